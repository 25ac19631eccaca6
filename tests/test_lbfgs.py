"""BoxLBFGS: monotone, finds box-constrained minima, survives bad steps."""

from __future__ import annotations

import itertools
import subprocess
import sys

import torch

from restyle.optim.lbfgs import BoxLBFGS


def _run(x: torch.Tensor, loss_fn: object, steps: int, **box: torch.Tensor) -> list[float]:
    opt = BoxLBFGS([x], history_size=10, **box)
    losses = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(x)  # type: ignore[operator]
        loss.backward()
        return loss.detach()

    for _ in range(steps):
        losses.append(opt.step(closure))
    return losses


def test_quadratic_minimum_inside_the_box() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(20, 20, generator=gen, dtype=torch.float64)
    h = a @ a.T + 0.1 * torch.eye(20, dtype=torch.float64)  # ill-conditioned SPD
    target = torch.rand(20, generator=gen, dtype=torch.float64) * 0.8 + 0.1
    x = torch.full((20,), 0.5, dtype=torch.float64, requires_grad=True)
    losses = _run(x, lambda v: 0.5 * (v - target) @ h @ (v - target), 200)
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(losses))  # monotone
    torch.testing.assert_close(x.detach(), target, atol=1e-4, rtol=0)


def test_minimum_outside_the_box_lands_on_the_boundary() -> None:
    target = torch.tensor([-0.5, 0.3, 1.7], dtype=torch.float64)
    x = torch.full((3,), 0.5, dtype=torch.float64, requires_grad=True)
    _run(x, lambda v: ((v - target) ** 2).sum(), 100)
    torch.testing.assert_close(x.detach(), torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64),
                               atol=1e-6, rtol=0)  # fmt: skip


def test_a_box_per_value_fixes_some_and_bounds_others() -> None:
    # Spatial control's "keep the photo": values whose box is one point stay exactly there,
    # the rest find the minimum within their own box.
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(12, 12, generator=gen, dtype=torch.float64)
    h = a @ a.T + 0.5 * torch.eye(12, dtype=torch.float64)  # couples fixed and free values
    target = torch.rand(12, generator=gen, dtype=torch.float64)
    start = torch.full((12,), 0.25, dtype=torch.float64)
    lower = torch.zeros(12, dtype=torch.float64)
    upper = torch.ones(12, dtype=torch.float64)
    lower[:4] = upper[:4] = start[:4]  # fixed
    upper[4:8] = 0.2  # a narrow box the minimum lies outside of, for some
    x = torch.minimum(start, upper).requires_grad_(True)  # the loop starts inside the box
    losses = _run(x, lambda v: 0.5 * (v - target) @ h @ (v - target), 300, lower=lower,
                  upper=upper)  # fmt: skip
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(losses))
    assert torch.equal(x.detach()[:4], start[:4])
    assert bool((x.detach() >= lower).all() and (x.detach() <= upper).all())
    # The free values found a better point than each one's own target clamped to its box
    # (the coupling to the held values matters).
    free = start.clone()
    free[4:] = target[4:].clamp(lower[4:], upper[4:])
    held = 0.5 * float((free - target) @ h @ (free - target))  # a point the box allows
    assert losses[-1] < held < losses[0]


def test_nonconvex_quartic_decreases_monotonically() -> None:
    # Gram-like quartic: match the outer product of a vector, the shape of the style loss.
    gen = torch.Generator().manual_seed(1)
    t = torch.rand(30, generator=gen, dtype=torch.float64)
    x = torch.rand(30, generator=gen, dtype=torch.float64).requires_grad_(True)
    losses = _run(x, lambda v: ((torch.outer(v, v) - torch.outer(t, t)) ** 2).sum(), 60)
    assert all(b <= a for a, b in itertools.pairwise(losses))
    assert losses[-1] < 1e-3 * losses[0]


def _two_loop(pairs: list[tuple[torch.Tensor, torch.Tensor]], g: torch.Tensor) -> torch.Tensor:
    """Nocedal & Wright's Algorithm 7.4, written plainly: -H g from pairs oldest first."""
    q = g.clone()
    alphas = []
    for s, y in reversed(pairs):
        a = s.dot(q) / y.dot(s)
        alphas.append(a)
        q = q - a * y
    s, y = pairs[-1]
    r = q * s.dot(y) / y.dot(y)
    for (s, y), a in zip(pairs, reversed(alphas), strict=True):
        r = r + s * (a - y.dot(r) / y.dot(s))
    return -r


def test_memory_keeps_the_latest_pairs_in_order_once_full() -> None:
    gen = torch.Generator().manual_seed(2)
    t = torch.rand(12, generator=gen, dtype=torch.float64)
    x = torch.rand(12, generator=gen, dtype=torch.float64).requires_grad_(True)
    opt = BoxLBFGS([x], history_size=3)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((torch.outer(x, x) - torch.outer(t, t)) ** 2).sum()
        loss.backward()
        return loss.detach()

    for _ in range(9):  # the ring of 4 slots wraps around twice
        before = x.detach().clone()
        opt.step(closure)
        pairs = opt.pairs()
        assert 1 <= len(pairs) <= 3
        # the newest pair is the step just taken
        torch.testing.assert_close(pairs[-1][0], x.detach() - before)
        assert x.grad is not None
        g = x.grad.detach().clone()
        torch.testing.assert_close(opt._direction(g), _two_loop(pairs, g))
    assert len(opt.pairs()) == 3


def test_bfloat16_pairs_converge_like_full_precision_ones() -> None:
    # The optimiser stores its curvature pairs in bfloat16 for image-sized problems: on an
    # ill-conditioned quadratic that still reaches the minimum, monotonically.
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200, 200, generator=gen)
    h = a @ a.T / 200 + 0.01 * torch.eye(200)
    target = torch.rand(200, generator=gen) * 0.8 + 0.1
    x = torch.full((200,), 0.5, requires_grad=True)
    opt = BoxLBFGS([x], history_size=10, history_dtype=torch.bfloat16)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = 0.5 * (x - target) @ h @ (x - target)
        loss.backward()
        return loss.detach()

    losses = [opt.step(closure) for _ in range(150)]
    assert opt.pairs()[0][0].dtype == torch.bfloat16
    assert all(b <= a for a, b in itertools.pairwise(losses))
    assert losses[-1] < 1e-10 * losses[0]
    torch.testing.assert_close(x.detach(), target, atol=1e-5, rtol=0)


def test_a_run_does_not_pay_for_torch_dynamo() -> None:
    # torch's optimiser base class imports torch._dynamo when constructed: 1.6-2.4 s of every
    # run's start on a 2-core CPU. BoxLBFGS steps (and clears gradients) without it.
    code = (
        "import sys, torch\n"
        "from restyle.optim.lbfgs import BoxLBFGS\n"
        "x = torch.full((4,), 0.5, requires_grad=True)\n"
        "opt = BoxLBFGS([x])\n"
        "def closure():\n"
        "    opt.zero_grad(set_to_none=False)\n"
        "    loss = ((x - 0.25) ** 2).sum()\n"
        "    loss.backward()\n"
        "    return loss.detach()\n"
        "for _ in range(3):\n"
        "    opt.step(closure)\n"
        "assert abs(float(x[0]) - 0.25) < 1e-3, x\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_zero_grad_clears_or_drops_the_gradient() -> None:
    x = torch.ones(3, requires_grad=True)
    opt = BoxLBFGS([x])
    (x * 2).sum().backward()
    grad = x.grad
    opt.zero_grad(set_to_none=False)
    assert x.grad is grad and torch.equal(grad, torch.zeros(3))
    opt.zero_grad()
    assert x.grad is None
