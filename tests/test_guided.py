"""The guided Gram style term: exact against autograd (whole and tiled), normalised by area,
wired into runs with masks and with fine and coarse paintings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from restyle.api import stylize_iter
from restyle.config import Settings
from restyle.errors import RestyleError
from restyle.metrics import score_regions
from restyle.net.vgg import VGGFeatures
from restyle.objective.evaluate import evaluate, features_and_grams, layers_of
from restyle.objective.guided import (
    GuidedGramStyleTerm,
    GuidedRegion,
    guided_gram_sum,
    guided_grams,
    normalise,
)
from restyle.objective.masks import propagate
from restyle.objective.terms import ContentTerm, GramStyleTerm, Term, gram, style_layer_loss
from restyle.objective.tiles import WHOLE, Tile, margin

from .conftest import painting, photo, tiny_convs

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


pytestmark = pytest.mark.usefixtures("one_thread")


def _net() -> VGGFeatures:
    return VGGFeatures(tiny_convs(dtype=torch.float64), "avg", "relu5_1").to(torch.float64)


def _guide(mask: torch.Tensor, mode: str) -> dict[str, torch.Tensor]:
    out = {}
    for k, t in propagate(mask, STYLE, mode).items():
        n = normalise(t)
        if n is not None:
            out[k] = n
    return out


def _regions(net: VGGFeatures, h: int, w: int) -> list[GuidedRegion]:
    """A hard region ('inside'), a soft one ('all') overlapping it, and a strip no region
    covers (the photo)."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    hard = (y < 60 + 0.2 * x).double()
    soft = torch.sigmoid((y - 70 - 0.2 * x) / 5.0).double()
    soft[:, :24] = 0.0  # uncovered by either region at the left
    gen = torch.Generator().manual_seed(3)
    regions = []
    for i, (mask, mode) in enumerate(((hard, "inside"), (soft, "all"))):
        style = torch.rand(1, 3, 90 + 20 * i, 110, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            targets = {k: gram(v) for k, v in net(style, STYLE).items()}
        regions.append(GuidedRegion(_guide(mask, mode), targets, weight=1.0 + i))
    return regions


def _reference(
    net: VGGFeatures, terms: list[Term], x: torch.Tensor
) -> tuple[dict[str, float], torch.Tensor]:
    """Content and guided style by autograd through their definitions."""
    content, style = terms
    assert isinstance(content, ContentTerm) and isinstance(style, GuidedGramStyleTerm)
    feats = net(x, layers_of(terms))
    c = content.weight * sum(0.5 * (feats[k] - t).pow(2).sum() for k, t in content.targets.items())
    s = style.weight * sum(
        region.weight
        * style.layer_weights[k]
        * style_layer_loss(gram(feats[k] * t), region.targets[k])
        for region in style.regions
        for k, t in region.masks.items()
    )
    assert isinstance(c, torch.Tensor) and isinstance(s, torch.Tensor)
    (grad,) = torch.autograd.grad(c + s, [x])
    values = {"content": float(c.detach()), "style": float(s.detach())}
    return {**values, "total": values["content"] + values["style"]}, grad


def _span(a: int, b: int, n: int, halo: int) -> tuple[int, int]:
    return max(0, a - halo), min(n, b + halo)


def _tiles(w: int, h: int, ys: list[int], xs: list[int]) -> list[Tile]:
    _, halo = margin(list(STYLE))
    return [
        Tile(y0, y1, x0, x1, *_span(y0, y1, h, halo), *_span(x0, x1, w, halo))
        for y0, y1 in itertools.pairwise(ys)
        for x0, x1 in itertools.pairwise(xs)
    ]


@pytest.mark.parametrize(("tiled", "n"), [(False, 1), (True, 1), (True, 2)])
def test_guided_term_equals_autograd_whole_and_tiled(tiled: bool, n: int) -> None:
    net = _net()
    h, w = 150, 200
    regions = _regions(net, h, w)
    assert "relu5_1" not in regions[0].masks  # 'inside' erodes the region away there
    gen = torch.Generator().manual_seed(5)
    content = torch.rand(n, 3, h, w, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        cf = net(content, ["relu4_2"])
    terms: list[Term] = [
        ContentTerm(dict(cf), 10.0),
        GuidedGramStyleTerm(regions, dict.fromkeys(STYLE, 0.2), 1e5),
    ]
    x = torch.rand(n, 3, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    want, want_grad = _reference(net, terms, x)
    assert want["style"] > 0.05 * want["total"] and want["content"] > 0.05 * want["total"]
    tiles = _tiles(w, h, [0, 64, h], [0, 96, 144, w]) if tiled else None
    got, backward = evaluate(net, terms, x, tiles)
    backward(2.0)
    assert x.grad is not None
    for k in ("total", "content", "style"):
        assert got[k] == pytest.approx(want[k], rel=1e-9)
    torch.testing.assert_close(x.grad / 2.0, want_grad, rtol=1e-9, atol=1e-12)


def test_a_region_covering_everything_is_the_plain_gram_term() -> None:
    net = _net()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 64, 80, generator=gen, dtype=torch.float64, requires_grad=True)
    style = torch.rand(1, 3, 70, 70, generator=gen, dtype=torch.float64)
    _, targets = features_and_grams(net, style, (), STYLE)
    lw = dict.fromkeys(STYLE, 0.2)
    plain, backward = evaluate(net, [GramStyleTerm(targets, lw, 1e5)], x)
    backward(1.0)
    assert x.grad is not None
    g, x.grad = x.grad.clone(), None
    region = GuidedRegion(_guide(torch.ones(64, 80), "inside"), targets)
    guided, backward = evaluate(net, [GuidedGramStyleTerm([region], lw, 1e5)], x)
    backward(1.0)
    assert guided["style"] == pytest.approx(plain["style"], rel=1e-12)
    torch.testing.assert_close(x.grad, g, rtol=1e-10, atol=1e-14)


def _periodic(c: int, h: int, w: int) -> torch.Tensor:
    """Features repeating a 2 x 2 pattern: every aligned even-sized block has the same Gram."""
    gen = torch.Generator().manual_seed(2)
    return torch.rand(1, c, 2, 2, generator=gen, dtype=torch.float64).repeat(1, 1, h // 2, w // 2)


def test_a_regions_loss_does_not_scale_with_its_area() -> None:
    h, w = 16, 32
    f = {"relu1_1": _periodic(4, h, w)}
    target = {"relu1_1": torch.eye(4, dtype=torch.float64)}
    losses = []
    for width in (4, 8, 16, 32):  # the region is an eighth ... all of the image
        mask = torch.zeros(1, 1, h, w, dtype=torch.float64)
        mask[..., :width] = 1.0
        normed = normalise(mask)
        assert normed is not None
        term = GuidedGramStyleTerm([GuidedRegion({"relu1_1": normed}, target)], {"relu1_1": 1}, 1)
        losses.append(float(term.value(term.measure(f, WHOLE), {"relu1_1": h * w})))
        # without the normalisation the region's Gram would shrink with its area
        g = guided_gram_sum(f["relu1_1"], mask)
        assert g is not None
        torch.testing.assert_close(g / (h * w), width / w * gram(f["relu1_1"]), rtol=1e-12, atol=0)
    assert losses == pytest.approx([losses[-1]] * 4, rel=1e-12)
    assert losses[-1] > 0


def test_empty_regions_are_skipped() -> None:
    assert normalise(torch.zeros(1, 1, 4, 4)) is None
    f = {"relu1_1": _periodic(4, 8, 8)}
    target = {"relu1_1": torch.eye(4, dtype=torch.float64)}
    term = GuidedGramStyleTerm([GuidedRegion({}, target)], {"relu1_1": 1.0}, 1.0)
    assert term.layers == ()
    assert float(term.value(term.measure(f, WHOLE), {"relu1_1": 64})) == 0.0
    assert term.gradient(f, WHOLE, 1.0) == {}


def test_painting_masks_give_guided_targets_whole_and_tiled() -> None:
    net = _net()
    gen = torch.Generator().manual_seed(4)
    img = torch.rand(1, 3, 176, 230, generator=gen, dtype=torch.float64)
    mask = torch.zeros(176, 230, dtype=torch.float64)
    mask[40:150, 30:200] = 1.0
    guide = _guide(mask, "simple")
    whole = guided_grams(net, img, guide)
    tiled = guided_grams(net, img, guide, 200 * 200)
    feats = net(img, list(STYLE))
    for k in STYLE:
        want = gram(feats[k] * guide[k])
        torch.testing.assert_close(whole[k], want, rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(tiled[k], want, rtol=1e-10, atol=1e-14)


# ----- runs ---------------------------------------------------------------------------------


def _halves(w: int, h: int) -> tuple[Image.Image, Image.Image]:
    left = np.zeros((h, w), dtype=np.uint8)
    left[:, : w // 2] = 255
    return Image.fromarray(left), Image.fromarray(255 - left)


def test_masked_run_builds_one_guided_term_per_scale(use_tiny_net: None) -> None:
    left, right = _halves(96, 64)
    s = Settings(size=96, iterations=4, min_scale=48, precision="float32")
    run = stylize_iter(photo(96, 64), [painting(), painting(seed=5)], s, masks=[left, right])
    for p in run:
        assert np.isfinite(p.losses["style"])
    terms = run.terms(96, 64)
    (style,) = [t for t in terms if isinstance(t, GuidedGramStyleTerm)]
    assert len(style.regions) == 2
    # each half keeps the shallow layers; 'inside' may erode it away at relu5_1 (stride 16)
    assert set(STYLE[:3]) <= set(style.regions[0].masks) <= set(STYLE)


def test_scale_control_takes_fine_layers_from_one_painting(use_tiny_net: None) -> None:
    s = Settings(size=64, iterations=2, multiscale=False, precision="float32")
    fine, coarse = painting(), painting(seed=5)
    run = stylize_iter(photo(64, 48), fine, s, coarse_style=coarse)
    (style,) = [t for t in run.terms(64, 48) if isinstance(t, GramStyleTerm)]
    alone = {}
    for name, img in (("fine", fine), ("coarse", coarse)):
        terms = stylize_iter(photo(64, 48), img, s).terms(64, 48)
        alone[name] = next(t for t in terms if isinstance(t, GramStyleTerm))
    for k in STYLE:
        source = "fine" if k in s.fine_layers else "coarse"
        torch.testing.assert_close(style.targets[k], alone[source].targets[k])
    with pytest.raises(RestyleError, match="both sides of the split"):
        stylize_iter(photo(), fine, s.replace(style_layers=("relu1_1",)), coarse_style=coarse)


def test_masked_run_gives_each_region_its_own_painting(use_tiny_net: None) -> None:
    """A run at 96 px: left third one painting, right third another, the middle the photo.
    Each painted region ends far nearer its own painting's style than the photo is; the
    photo's region stays near the photo."""
    w, h = 96, 64
    left = np.zeros((h, w), dtype=np.uint8)
    left[:, : w // 3] = 255
    right = np.fliplr(left).copy()
    inverted = Image.fromarray(255 - np.asarray(painting(seed=7)))
    content, styles = photo(w, h), [painting(seed=2), inverted]
    s = Settings(size=w, iterations=40, multiscale=False, precision="float32", tolerance=0)
    out = stylize_iter(content, styles, s, masks=[left, right]).run()
    regions = score_regions(out, content, styles, [left, right], names=["a", "b"], size=w)
    assert [r.name for r in regions] == ["a", "b", "photo"]
    a, b, rest = regions
    for r in (a, b):
        assert r.area == pytest.approx(1 / 3, abs=0.02)
        assert r.style is not None and r.style < 0.3, r
        assert r.edge_style is not None and r.edge_content is None
    assert rest.style is None and rest.content is not None and rest.edge_content is not None
    assert rest.content < 0.5 * min(x.content for x in (a, b) if x.content is not None)
    # The photo's strip is the photo, pixel for pixel: pixels no mask covers are held fixed
    # (their neighbours' style terms would reach into them through the receptive fields).
    kept, photo_ = (np.asarray(im)[:, w // 3 + 1 : 2 * w // 3 - 1] for im in (out, content))
    assert np.array_equal(kept, photo_)
    change = np.abs(np.asarray(out, float) - np.asarray(content, float)).mean(axis=(0, 2))
    assert change[: w // 3].mean() > 20
