"""The objective against the paper's definitions, and float64 gradient checks."""

from __future__ import annotations

import pytest
import torch

from restyle.errors import RestyleError
from restyle.objective.terms import (
    Objective,
    Targets,
    blend_grams,
    content_loss,
    gram,
    style_layer_loss,
    tv_loss,
)


def _feats(n: int = 5, h: int = 4, w: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, n, h, w, generator=gen, dtype=torch.float64)


def test_gram_is_sum_over_positions_divided_by_m() -> None:
    f = _feats()
    flat = f[0].reshape(5, -1)
    m = flat.shape[1]
    expected = torch.empty(5, 5, dtype=torch.float64)
    for i in range(5):
        for j in range(5):
            expected[i, j] = sum(flat[i, k] * flat[j, k] for k in range(m)) / m
    torch.testing.assert_close(gram(f), expected)


def test_gram_rejects_batches() -> None:
    with pytest.raises(RestyleError):
        gram(torch.rand(2, 3, 4, 4))


def test_content_loss_is_half_squared_error() -> None:
    f, p = _feats(seed=1), _feats(seed=2)
    assert float(content_loss(f, p)) == pytest.approx(0.5 * float(((f - p) ** 2).sum()), rel=1e-6)
    with pytest.raises(RestyleError):
        content_loss(f, _feats(h=5))


def test_style_layer_loss_matches_the_papers_E_l() -> None:
    # Paper eq. 4 with unnormalised Grams G = F F^T: E = 1/(4 N^2 M^2) sum (G - A)^2.
    x, a = _feats(n=6, h=5, w=4, seed=3), _feats(n=6, h=5, w=4, seed=4)
    n, m = 6, 20
    g_raw = x[0].reshape(n, m) @ x[0].reshape(n, m).T
    a_raw = a[0].reshape(n, m) @ a[0].reshape(n, m).T
    paper = float(((g_raw - a_raw) ** 2).sum()) / (4 * n**2 * m**2)
    ours = float(style_layer_loss(gram(x), gram(a)))
    assert ours == pytest.approx(paper, rel=1e-5)


def test_losses_vanish_at_the_target() -> None:
    f = _feats()
    assert float(content_loss(f, f)) == 0
    assert float(style_layer_loss(gram(f), gram(f))) == 0
    assert float(tv_loss(torch.ones(1, 3, 5, 5))) == 0


def test_tv_loss_counts_neighbour_differences() -> None:
    img = torch.zeros(1, 1, 2, 2)
    img[0, 0, 0, 0] = 1.0  # differs from its right and lower neighbour
    assert float(tv_loss(img)) == pytest.approx(2.0)


def test_gradients_in_float64() -> None:
    target_f = _feats(seed=5)
    target_g = gram(_feats(seed=6)).double()

    def style(x: torch.Tensor) -> torch.Tensor:
        _, n, h, w = x.shape
        f = x.reshape(n, h * w)
        return style_layer_loss(f @ f.T / (h * w), target_g)

    x = _feats(seed=7).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: content_loss(t, target_f).double(), (x,))
    assert torch.autograd.gradcheck(style, (x,))
    assert torch.autograd.gradcheck(tv_loss, (x,))


def test_blend_grams_is_a_weighted_mean() -> None:
    a = {"l": torch.ones(2, 2)}
    b = {"l": torch.full((2, 2), 3.0)}
    torch.testing.assert_close(blend_grams([a, b], [3, 1])["l"], torch.full((2, 2), 1.5))
    with pytest.raises(RestyleError):
        blend_grams([a, b], [1])
    with pytest.raises(RestyleError):
        blend_grams([a, b], [0, 0])


def test_objective_weights_each_term() -> None:
    fc, fs, x = _feats(seed=8).float(), _feats(seed=9).float(), torch.rand(1, 3, 6, 6)
    targets = Targets({"c": _feats(seed=10).float()}, {"s": gram(_feats(seed=11).float())})
    obj = Objective(targets, alpha=0.5, beta=2.0, style_layer_weights={"s": 0.25}, tv_weight=0.1)
    terms = obj({"c": fc, "s": fs}, x)
    assert float(terms.content) == pytest.approx(
        0.5 * float(content_loss(fc, targets.content["c"]))
    )
    expected_style = 2.0 * 0.25 * float(style_layer_loss(gram(fs), targets.style_grams["s"]))
    assert float(terms.style) == pytest.approx(expected_style, rel=1e-6)
    assert float(terms.tv) == pytest.approx(0.1 * float(tv_loss(x)), rel=1e-6)
    assert float(terms.total) == pytest.approx(
        float(terms.content) + float(terms.style) + float(terms.tv), rel=1e-6
    )
    assert obj.layers == ["c", "s"]
