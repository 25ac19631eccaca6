"""Evening out paintings (Settings.style_balance): each style layer rescaled by how far the
photo starts from the painting there, relative to a typical pair."""

from __future__ import annotations

import pytest
import torch

from restyle.config import STYLE_LAYER_REFERENCE, Settings
from restyle.objective.balance import balanced_layer_weights, layer_losses
from restyle.objective.terms import GramStyleTerm, gram, style_layer_loss
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
