"""Evening out paintings (Settings.style_balance): each style layer rescaled by how far the
photo starts from the painting there, relative to a typical pair."""

from __future__ import annotations

import pytest
import torch

from restyle.config import STYLE_LAYER_REFERENCE, Settings
from restyle.errors import RestyleError
from restyle.objective.balance import balanced_layer_weights, layer_losses, style_over_content
from restyle.objective.terms import ContentTerm, GramStyleTerm, gram, style_layer_loss
from restyle.tasks.stylize import StyleRun

from .conftest import painting, photo


def test_layer_losses_are_the_weighted_start_per_layer_averaged_over_a_batch() -> None:
    torch.manual_seed(0)
    f = torch.randn(3, 4, 5, 6)
    target = gram(torch.randn(1, 4, 5, 6))[0]
    grams = {"a": gram(f), "b": gram(f)}
    got = layer_losses(grams, {"a": target, "b": target}, {"a": 0.5, "b": 0.0})
    alone = [float(style_layer_loss(gram(f[i : i + 1]), target)) for i in range(3)]
    assert set(got) == {"a"}  # a layer weighted 0 is not measured
    assert got["a"] == pytest.approx(0.5 * sum(alone) / 3, rel=1e-6)


def test_balanced_weights_bring_each_layer_to_its_reference() -> None:
    w = {"a": 0.2, "b": 0.2, "c": 0.2}
    start = {"a": 40.0, "b": 0.01}  # c has no start: kept
    ref = {"a": 10.0, "b": 0.1}
    full = balanced_layer_weights(w, start, ref, 1.0)
    # with power 1 each layer's weighted start becomes its reference
    assert full["a"] * start["a"] / w["a"] == pytest.approx(ref["a"])
    assert full["b"] * start["b"] / w["b"] == pytest.approx(ref["b"])
    assert full["c"] == 0.2
    half = balanced_layer_weights(w, start, ref, 0.5)
    assert half["a"] == pytest.approx(0.2 * 0.5) and half["b"] == pytest.approx(0.2 * 10**0.5)
    assert balanced_layer_weights(w, start, ref, 0.0) == w
    assert balanced_layer_weights(w, {"a": 0.0}, ref, 1.0) == w  # a zero start is left alone


@pytest.mark.usefixtures("use_tiny_net")
def test_a_run_rescales_its_style_layers_and_not_without_balance() -> None:
    s = Settings(size=32, iterations=2, style_balance=1.0, multiscale=False)
    run = StyleRun(photo(), [painting()], s)
    (style,) = [t for t in run.terms(32, 21) if isinstance(t, GramStyleTerm)]
    assert set(run.layer_start) == set(s.style_layers)
    for k in s.style_layers:  # power 1: every layer starts at its reference
        assert style.layer_weights[k] * run.layer_start[k] / 0.2 == pytest.approx(
            STYLE_LAYER_REFERENCE[k], rel=1e-5
        )
    plain = StyleRun(photo(), [painting()], s.replace(style_balance=0.0))
    (style0,) = [t for t in plain.terms(32, 21) if isinstance(t, GramStyleTerm)]
    assert dict(style0.layer_weights) == {k: 0.2 for k in s.style_layers}
    assert plain.layer_start == {}


def test_style_over_content_is_the_photos_style_loss_over_the_content_energy() -> None:
    torch.manual_seed(1)
    p = torch.randn(1, 4, 3, 5)
    content = ContentTerm({"c": p}, 2.0)
    target = gram(torch.randn(1, 4, 5, 6))
    style = GramStyleTerm({"a": target}, {"a": 0.5}, 7.0)
    f = torch.randn(1, 4, 5, 6)
    got = style_over_content(content, style, {"a": gram(f)})
    start = 0.5 * float(style_layer_loss(gram(f), target))
    expected = 7.0 * start / (2.0 * 0.5 * float(p.pow(2).sum()))
    assert got == pytest.approx(expected, rel=1e-6)
    assert style_over_content(ContentTerm({"c": p * 0}, 2.0), style, {"a": gram(f)}) == float("inf")


@pytest.mark.usefixtures("use_tiny_net")
def test_style_heavy_objectives_run_at_one_scale_and_others_coarse_to_fine() -> None:
    s = Settings(size=96, iterations=12, min_scale=32, multiscale_balance_limit=1e30)
    run = StyleRun(photo(96, 64), [painting()], s)
    assert run.balance is not None and len(run.sizes) > 1
    # the balance grows with the style's weight; past the limit the coarse scales would paint
    # the layout away, so the run is single-scale with every step at the output size
    limit = s.replace(multiscale_balance_limit=run.balance * 10)
    assert len(StyleRun(photo(96, 64), [painting()], limit).sizes) > 1
    heavy = StyleRun(photo(96, 64), [painting()], limit.replace(style_strength=20.0))
    assert heavy.balance == pytest.approx(20 * run.balance, rel=1e-6)
    assert heavy.sizes == [(96, 64)] and heavy.steps == [12]
    never = limit.replace(style_strength=20.0, multiscale_balance_limit=0)
    run0 = StyleRun(photo(96, 64), [painting()], never)
    assert len(run0.sizes) > 1 and run0.balance is None


@pytest.mark.usefixtures("use_tiny_net")
def test_coarse_scales_weigh_the_content_more_than_the_output_size() -> None:
    s = Settings(size=96, iterations=4, min_scale=32, coarse_content_weight=3.0)
    s = s.replace(multiscale_balance_limit=0)  # the tiny test network weighs style heavily
    run = StyleRun(photo(96, 64), [painting()], s)
    (w0, h0), (w1, h1) = run.sizes[0], run.sizes[-1]
    (coarse,) = [t for t in run.terms(w0, h0) if isinstance(t, ContentTerm)]
    (fine,) = [t for t in run.terms(w1, h1) if isinstance(t, ContentTerm)]
    area = s.reference_pixels / (w0 * h0), s.reference_pixels / (w1 * h1)
    assert fine.weight == pytest.approx(s.alpha * area[1])
    assert coarse.weight == pytest.approx(3.0 * s.alpha * area[0])


@pytest.mark.usefixtures("use_tiny_net")
def test_coarse_scales_keep_the_default_balance_when_the_style_weighs_more() -> None:
    base = Settings(size=96, iterations=4, min_scale=32, multiscale_balance_limit=0)

    def coarse_over_fine(s: Settings) -> float:
        run = StyleRun(photo(96, 64), [painting()], s)
        (w0, h0), (w1, h1) = run.sizes[0], run.sizes[-1]
        (coarse,) = [t for t in run.terms(w0, h0) if isinstance(t, ContentTerm)]
        (fine,) = [t for t in run.terms(w1, h1) if isinstance(t, ContentTerm)]
        assert fine.weight == pytest.approx(s.alpha * s.reference_pixels / (w1 * h1))
        return coarse.weight / fine.weight * (w0 * h0) / (w1 * h1)

    # the default weights, or lighter style: the coarse scales take the objective as it is
    assert coarse_over_fine(base) == pytest.approx(1.0)
    assert coarse_over_fine(base.replace(style_strength=0.5)) == pytest.approx(1.0)
    # four times the style, or a tenth of the content: the coarse scales weigh the content
    # that much more, so their balance is the default's
    assert coarse_over_fine(base.replace(style_strength=4.0)) == pytest.approx(4.0)
    assert coarse_over_fine(base.replace(content_weight=base.alpha / 10)) == pytest.approx(10.0)
    # the user's own coarse weight multiplies it; a looser limit, or none, lets more style in
    heavy = base.replace(style_strength=4.0)
    assert coarse_over_fine(heavy.replace(coarse_content_weight=3.0)) == pytest.approx(12.0)
    assert coarse_over_fine(heavy.replace(coarse_style_limit=2.0)) == pytest.approx(2.0)
    assert coarse_over_fine(heavy.replace(coarse_style_limit=0)) == pytest.approx(1.0)
    with pytest.raises(RestyleError, match="coarse_style_limit"):
        base.replace(coarse_style_limit=-1.0)
