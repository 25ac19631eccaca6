"""The objective against the paper's definitions, and float64 gradient checks."""

from __future__ import annotations

import pytest
import torch

from restyle.errors import RestyleError
from restyle.objective.terms import (
    ContentTerm,
    GramStyleTerm,
    TVTerm,
    blend_grams,
    content_loss,
    gram,
    gram_sum,
    style_layer_loss,
    times_kernel,
    tv_loss,
)
from restyle.objective.tiles import WHOLE


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
    torch.testing.assert_close(gram(f), expected.unsqueeze(0))


@pytest.mark.parametrize("n", [1, 3])
def test_batch_functions_treat_each_image_alone(n: int) -> None:
    gen = torch.Generator().manual_seed(3)
    f = torch.rand(n, 5, 6, 7, generator=gen, dtype=torch.float64)
    g = gram(f)
    assert g.shape == (n, 5, 5)
    sums = gram_sum(f.to(memory_format=torch.channels_last))
    assert sums is not None and sums.shape == (n, 5, 5)
    k = torch.rand(n, 5, 5, generator=gen, dtype=torch.float64)
    k = k + k.transpose(1, 2)
    kf = times_kernel(f.to(memory_format=torch.channels_last), k)
    for i in range(n):
        one = f[i : i + 1]
        torch.testing.assert_close(g[i], gram(one)[0])
        torch.testing.assert_close(sums[i], g[i] * 42)
        want = (k[i] @ one[0].reshape(5, -1)).reshape(5, 6, 7)
        torch.testing.assert_close(kf[i], want)
    # the losses sum over the batch
    t = torch.rand(n, 5, 6, 7, generator=gen, dtype=torch.float64)
    each = sum(float(content_loss(f[i : i + 1], t[i : i + 1])) for i in range(n))
    assert float(content_loss(f, t)) == pytest.approx(each)
    a = gram(t[:1])
    each = sum(float(style_layer_loss(g[i : i + 1], a)) for i in range(n))
    assert float(style_layer_loss(g, a)) == pytest.approx(each)


def test_gram_rejects_non_feature_shapes() -> None:
    with pytest.raises(ValueError, match="N, C, H, W"):
        gram(torch.rand(3, 4, 4))


def test_content_loss_is_half_squared_error() -> None:
    f, p = _feats(seed=1), _feats(seed=2)
    assert float(content_loss(f, p)) == pytest.approx(0.5 * float(((f - p) ** 2).sum()), rel=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
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


def test_each_term_weights_its_value_and_gradient() -> None:
    fc, fs = _feats(seed=8), _feats(seed=9)
    x = torch.rand(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    tc, ts = _feats(seed=10), gram(_feats(seed=11))
    content = ContentTerm({"c": tc}, 0.5)
    style = GramStyleTerm({"s": ts}, {"s": 0.25}, 2.0)
    tv = TVTerm(0.1)
    feats = {"c": fc, "s": fs}
    positions = {"c": 12, "s": 12}
    v_content = content.value(content.measure(feats, WHOLE), positions)
    v_style = style.value(style.measure(feats, WHOLE), positions)
    assert float(v_content) == pytest.approx(0.5 * float(content_loss(fc, tc)))
    assert float(v_style) == pytest.approx(2.0 * 0.25 * float(style_layer_loss(gram(fs), ts)))
    assert float(tv.image_value(x).detach()) == pytest.approx(0.1 * float(tv_loss(x).detach()))
    # the hand-written gradients are autograd's, times the scale
    for term, layer, ref in [
        (content, "c", lambda f: 0.5 * content_loss(f, tc)),
        (style, "s", lambda f: 2.0 * 0.25 * style_layer_loss(gram(f), ts)),
    ]:
        f = feats[layer].clone().requires_grad_(True)
        ref(f).backward()
        got = term.gradient(feats, WHOLE, 3.0)[layer]
        torch.testing.assert_close(got, 3.0 * f.grad)


def test_terms_with_zero_weight_read_nothing() -> None:
    assert ContentTerm({"c": _feats()}, 0.0).layers == ()
    assert GramStyleTerm({"s": gram(_feats())}, {"s": 1.0}, 0.0).layers == ()
    assert GramStyleTerm(
        {"s": gram(_feats()), "t": gram(_feats())}, {"s": 1.0, "t": 0}, 1
    ).layers == ("s",)
    assert float(TVTerm(0.0).image_value(torch.rand(1, 3, 4, 4))) == 0
