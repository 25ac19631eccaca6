"""The fast and bounded-memory paths give the plain path's numbers.

Tiled evaluation (exact up to summation order), channels-last layout (same numbers), bfloat16
network (close, with conv1_1 kept in float32), the precision and layout choices per device.
"""

from __future__ import annotations

import copy
import itertools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from restyle import device as dev
from restyle.api import stylize_iter
from restyle.config import Settings
from restyle.errors import RestyleError
from restyle.net.vgg import VGGFeatures
from restyle.objective.evaluate import evaluate, features_and_grams, layers_of
from restyle.objective.terms import (
    ContentTerm,
    GramStyleTerm,
    Term,
    TVTerm,
    content_loss,
    gram,
    style_layer_loss,
    tv_loss,
)
from restyle.objective.tiles import Tile, Window, margin, plan_tiles

from .conftest import painting, photo, tiny_convs

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT = ("relu4_2",)


pytestmark = pytest.mark.usefixtures("one_thread")


def _net(pooling: str, dtype: torch.dtype = torch.float64) -> VGGFeatures:
    return VGGFeatures(tiny_convs(dtype=dtype), pooling, "relu5_1").to(dtype)


@dataclass
class MeanActivationTerm:
    """A toy extra term, written once against the term protocol: ``weight`` x the squared mean
    activation of each channel at one layer (a statistic of the whole image, like a Gram
    matrix, but not one)."""

    layer: str
    weight: float
    name: str = "toy"
    mean: torch.Tensor | None = None
    positions: int = 0

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def measure(
        self, features: Mapping[str, torch.Tensor], window: Window
    ) -> dict[str, torch.Tensor]:
        return {"sum": features[self.layer].sum(dim=(2, 3)).double()}

    def value(
        self, stats: Mapping[str, torch.Tensor], positions: Mapping[str, int]
    ) -> torch.Tensor:
        self.positions = positions[self.layer]
        self.mean = stats["sum"] / self.positions
        return self.weight * self.mean.pow(2).sum()

    def gradient(
        self, features: Mapping[str, torch.Tensor], window: Window, scale: float
    ) -> dict[str, torch.Tensor]:
        assert self.mean is not None
        if self.layer not in features:
            return {}
        f = features[self.layer]
        g = (2 * self.weight * scale / self.positions) * self.mean
        return {self.layer: g[..., None, None].expand_as(f).to(f.dtype).contiguous()}


def _terms(
    net: VGGFeatures, h: int, w: int, tv: float = 0.0, toy: float = 0.0, n: int = 1
) -> list[Term]:
    gen = torch.Generator().manual_seed(4)
    content = torch.rand(n, 3, h, w, generator=gen, dtype=torch.float64)
    style = torch.rand(1, 3, h - 13, w + 21, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        cf = net(content, CONTENT)
        sg = {k: gram(v) for k, v in net(style, STYLE).items()}
    # Weights chosen so that content and style contribute gradients of similar size.
    terms: list[Term] = [
        ContentTerm(dict(cf), 1.0),
        GramStyleTerm(sg, dict.fromkeys(STYLE, 0.2), 5e6),
        TVTerm(tv),
    ]
    if toy:
        terms.append(MeanActivationTerm("relu3_1", toy))
    return terms


def _reference(
    net: VGGFeatures, terms: list[Term], x: torch.Tensor
) -> tuple[dict[str, float], torch.Tensor]:
    """The objective's terms and image gradient by autograd through the definitions."""
    content, style, tv = terms[0], terms[1], terms[2]
    assert isinstance(content, ContentTerm) and isinstance(style, GramStyleTerm)
    assert isinstance(tv, TVTerm)
    feats = net(x, layers_of(terms))
    values = {
        "content": content.weight
        * sum(content_loss(feats[k], t) for k, t in content.targets.items()),
        "style": style.weight
        * sum(
            style.layer_weights[k] * style_layer_loss(gram(feats[k]), t)
            for k, t in style.targets.items()
        ),
        "tv": tv.weight * tv_loss(x),
    }
    for extra in terms[3:]:
        assert isinstance(extra, MeanActivationTerm)
        f = feats[extra.layer]
        values[extra.name] = extra.weight * f.mean(dim=(2, 3)).pow(2).sum()
    total = sum(values.values())
    assert isinstance(total, torch.Tensor)
    (grad,) = torch.autograd.grad(total, [x])
    floats = {k: float(v.detach()) for k, v in values.items()}
    floats["total"] = float(total.detach())
    return floats, grad


# ----- tiles --------------------------------------------------------------------------------


def _span(a: int, b: int, n: int, halo: int) -> tuple[int, int]:
    return max(0, a - halo), min(n, b + halo)


def _tiles(w: int, h: int, ys: list[int], xs: list[int], layers: list[str]) -> list[Tile]:
    """Tiles with the given edges (multiples of 16) and the margin that ``layers`` need."""
    _, halo = margin(layers)
    return [
        Tile(y0, y1, x0, x1, max(0, y0 - halo), min(h, y1 + halo), *_span(x0, x1, w, halo))
        for y0, y1 in itertools.pairwise(ys)
        for x0, x1 in itertools.pairwise(xs)
    ]


def test_margin_covers_the_reach_of_the_deepest_layer() -> None:
    assert margin(["relu1_1"]) == (1, 1)
    assert margin(["relu1_1", "relu3_1"]) == (4, 12)
    assert margin(list(STYLE + CONTENT)) == (16, 80)
    assert margin(["pool2"]) == (4, 8)


@pytest.mark.parametrize(("w", "h", "budget"), [(264, 200, 200 * 200), (500, 333, 300 * 300)])
def test_tiles_cover_the_image_once_and_align(w: int, h: int, budget: int) -> None:
    tiles = plan_tiles(w, h, budget, list(STYLE))
    assert len(tiles) > 1
    covered = torch.zeros(h, w, dtype=torch.int32)
    for t in tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
        assert 0 <= t.cy0 <= t.y0 < t.y1 <= t.cy1 <= h and 0 <= t.cx0 <= t.x0 < t.x1 <= t.cx1 <= w
        for v in (t.y0, t.x0, t.cy0, t.cx0):
            assert v % 16 == 0
        assert t.y0 - t.cy0 == min(t.y0, 80) and t.cy1 - t.y1 == min(h - t.y1, 80)
        assert t.x0 - t.cx0 == min(t.x0, 80) and t.cx1 - t.x1 == min(w - t.x1, 80)
    assert bool((covered == 1).all())
    assert plan_tiles(w, h, w * h, list(STYLE)) == plan_tiles(w, h, 10 * w * h, list(STYLE))
    assert len(plan_tiles(w, h, w * h, list(STYLE))) == 1


@pytest.mark.parametrize(("pooling", "n"), [("avg", 1), ("max", 1), ("avg", 3)])
def test_tiled_loss_and_gradient_equal_the_whole_image(pooling: str, n: int) -> None:
    net = _net(pooling)
    h, w = 150, 200  # not multiples of 16
    terms = _terms(net, h, w, tv=1e-4, toy=2.0, n=n)
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(n, 3, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    want, want_grad = _reference(net, terms, x)
    assert want["content"] > 0.05 * want["total"] and want["style"] > 0.05 * want["total"]
    assert want["toy"] > 0.03 * want["total"]

    tiles = _tiles(w, h, [0, 64, h], [0, 96, 144, w], layers_of(terms))
    got, backward = evaluate(net, terms, x, tiles)
    backward(2.0)
    assert x.grad is not None
    for k in ("total", "content", "style", "tv", "toy"):
        assert got[k] == pytest.approx(want[k], rel=1e-9)
    torch.testing.assert_close(x.grad / 2.0, want_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_one_pass_loss_and_gradient_equal_autograd_through_the_objective(layout: str) -> None:
    net = _net("max")
    if layout == "nhwc":
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    h, w = 72, 88
    terms = _terms(net, h, w, tv=1e-4, toy=2.0)
    x = torch.rand(1, 3, h, w, dtype=torch.float64, requires_grad=True)
    want, want_grad = _reference(net, terms, x)
    got, backward = evaluate(net, terms, x)
    backward(0.5)
    assert x.grad is not None
    for k in ("total", "content", "style", "tv", "toy"):
        assert got[k] == pytest.approx(want[k], rel=1e-9)
    torch.testing.assert_close(x.grad * 2.0, want_grad, rtol=1e-9, atol=1e-12)


def test_one_pass_makes_each_layers_gradient_when_it_reaches_the_layer() -> None:
    # The memory of a step peaks at the first layers: by the time the backward pass asks for a
    # layer's own gradient, every deeper layer's features are let go, and no term has made the
    # gradient of a shallower layer yet.
    net = _net("avg")
    h, w = 64, 80
    terms = _terms(net, h, w, toy=2.0)
    x = torch.rand(1, 3, h, w, dtype=torch.float64, requires_grad=True)
    _, want_grad = _reference(net, terms, x)
    asked: list[tuple[str, ...]] = []
    alive: list[int] = []
    kept: list[weakref.ref[torch.Tensor]] = []
    original = net.forward

    def forward(image: torch.Tensor, layers: Any) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = original(image, layers)
        kept.extend(weakref.ref(v) for v in out.values())
        return out

    net.forward = forward  # type: ignore[method-assign]
    for t in terms[:2] + terms[3:]:
        made = t.gradient  # type: ignore[union-attr]

        def recording(features: Any, window: Any, scale: float, made: Any = made) -> Any:
            asked.append(tuple(features))
            alive.append(sum(r() is not None for r in kept))
            return made(features, window, scale)

        t.gradient = recording  # type: ignore[union-attr]
    _, backward = evaluate(net, terms, x)
    backward(1.0)
    assert x.grad is not None
    torch.testing.assert_close(x.grad, want_grad, rtol=1e-9, atol=1e-12)
    assert all(len(a) == 1 for a in asked)
    order = [a[0] for a in asked]
    deepest_first = ["relu5_1", "relu4_2", "relu4_1", "relu3_1", "relu3_1", "relu2_1", "relu1_1"]
    assert order == deepest_first
    # at relu1_1 only its own features are still held (by the network's graph, for the ReLU)
    assert alive[-1] == 1
    del net.forward


def test_one_pass_in_bfloat16_stays_close_to_float32() -> None:
    net = _net("avg", torch.float32).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    h, w = 64, 80
    gen = torch.Generator().manual_seed(7)
    content, style = torch.rand(2, 1, 3, h, w, generator=gen)
    with torch.no_grad():
        cf = {k: v.float() for k, v in net(content, CONTENT).items()}
        sg = {k: gram(v) for k, v in net(style, STYLE).items()}
    terms: list[Term] = [
        ContentTerm(cf, 1.0),
        GramStyleTerm(sg, dict.fromkeys(STYLE, 0.2), 1e4),
        MeanActivationTerm("relu3_1", 10.0),
    ]
    x = torch.rand(1, 3, h, w, generator=gen, requires_grad=True)
    full, backward = evaluate(net, terms, x)
    backward(1.0)
    assert x.grad is not None
    g32, x.grad = x.grad.clone(), None
    half = copy.deepcopy(net).set_precision(torch.bfloat16)
    low, backward = evaluate(half, terms, x)
    backward(1.0)
    for k in ("total", "content", "style", "toy"):
        assert low[k] == pytest.approx(full[k], rel=0.02)
    cos = torch.nn.functional.cosine_similarity(x.grad.flatten(), g32.flatten(), dim=0)
    assert float(cos) > 0.98


@pytest.mark.parametrize("n", [1, 3])
def test_tiled_targets_equal_the_whole_image(n: int) -> None:
    net = _net("avg")
    img = torch.rand(n, 3, 176, 230, dtype=torch.float64)
    feats, grams = features_and_grams(net, img, CONTENT, STYLE, 200 * 200)
    whole = net(img, list(CONTENT + STYLE))
    torch.testing.assert_close(feats["relu4_2"], whole["relu4_2"].float())
    for k in STYLE:
        assert grams[k].shape[0] == n
        torch.testing.assert_close(grams[k], gram(whole[k]), rtol=1e-9, atol=1e-12)


def test_tiled_run_follows_the_whole_image_run(
    use_tiny_net: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style = photo(300, 225), painting(150, 150)
    # A shallow network (margin 4 px), so that tiles cost little more than the whole image.
    base = Settings(
        size=300,
        iterations=3,
        multiscale=False,
        precision="float32",
        content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu2_1"),
    )
    plain = [p.losses["total"] for p in stylize_iter(content, style, base)]
    calls = []
    real = evaluate

    def spy(*args: Any) -> Any:
        calls.append(0 if args[3] is None else len(args[3]))
        return real(*args)

    monkeypatch.setattr("restyle.optim.loop.evaluate", spy)
    tiled_run = stylize_iter(content, style, base.replace(tile_pixels=65_536))
    tiled = [p.losses["total"] for p in tiled_run]
    assert calls and set(calls) == {2}  # 300 x 225 px in tiles of at most 65 536 px
    assert len(plain) == len(tiled) == 3
    # float32 Gram sums in another order; the style loss, a small difference of large Grams,
    # magnifies that, and the optimiser's steps a little more (the float64 tests above show
    # that the tiled numbers are exact).
    assert tiled[0] == pytest.approx(plain[0], rel=2e-3)
    for a, b in zip(plain, tiled, strict=True):
        assert b == pytest.approx(a, rel=0.05)
    assert tiled[-1] < tiled[0]


def test_tile_budget_is_validated() -> None:
    assert Settings(tile_pixels=0).tile_pixels == 0
    with pytest.raises(RestyleError, match="tile_pixels"):
        Settings(tile_pixels=1000)


# ----- layout and precision -----------------------------------------------------------------


def test_channels_last_gives_the_same_features() -> None:
    net = _net("max", torch.float32)
    cl = copy.deepcopy(net).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.rand(1, 3, 40, 56)
    a, b = net(x, STYLE), cl(x, STYLE)
    assert b["relu2_1"].is_contiguous(memory_format=torch.channels_last)
    for k in STYLE:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-5)


def test_bfloat16_network_keeps_conv1_1_in_float32_and_the_loss_close() -> None:
    net = _net("avg", torch.float32)
    half = copy.deepcopy(net).set_precision(torch.bfloat16)
    assert half.convs["conv1_1"].weight.dtype == torch.float32
    assert half.convs["conv1_2"].weight.dtype == torch.bfloat16
    x = torch.rand(1, 3, 64, 80, requires_grad=True)
    full, low = net(x, STYLE + CONTENT), half(x, STYLE + CONTENT)
    assert low["relu1_1"].dtype == torch.bfloat16 and low["relu3_1"].dtype == torch.bfloat16
    for k in STYLE:
        g, gl = gram(full[k]), gram(low[k])
        assert gl.dtype == torch.float32
        assert float((g - gl).detach().norm() / g.detach().norm()) < 0.03
    low["relu5_1"].float().sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32


def test_precision_auto_picks_bfloat16_only_where_the_cpu_has_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: True)
    assert dev.autocast_dtype(cpu, "auto") == torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: False)
    assert dev.autocast_dtype(cpu, "auto") is None
    assert dev.autocast_dtype(cpu, "float32") is None
    assert dev.autocast_dtype(cpu, "bfloat16") == torch.bfloat16
    with pytest.raises(RestyleError):
        dev.autocast_dtype(cpu, "float16")


def test_cuda_settings_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert dev.autocast_dtype(cuda, "auto") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.autocast_dtype(cuda, "auto") == torch.bfloat16
    assert dev.memory_format(cuda) == torch.channels_last
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    dev.configure_backends(cuda)
    assert torch.backends.cudnn.benchmark is True
    dev.configure_backends(torch.device("cpu"))  # nothing to set; must not fail


def test_bfloat16_run_tracks_the_float32_run(use_tiny_net: None) -> None:
    content, style = photo(64, 48), painting(48, 48)
    base = Settings(size=64, iterations=6, multiscale=False)
    f32 = [
        p.losses["total"] for p in stylize_iter(content, style, base.replace(precision="float32"))
    ]
    bf = [
        p.losses["total"] for p in stylize_iter(content, style, base.replace(precision="bfloat16"))
    ]
    assert len(f32) == len(bf)
    assert bf[0] == pytest.approx(f32[0], rel=0.05)
    assert bf[-1] < bf[0]


def test_freed_memory_goes_back_to_the_system_between_scales() -> None:
    """On glibc (the Linux this project runs on), trimming works and is safe to repeat."""
    import sys

    from restyle.memory import release_free_memory

    blocks = [torch.empty(1 << 20) for _ in range(64)]  # 256 MB, then freed
    del blocks
    done = release_free_memory()
    assert done == (sys.platform.startswith("linux") and _glibc())
    assert release_free_memory() == done


def _glibc() -> bool:
    import platform

    return platform.libc_ver()[0] == "glibc"
