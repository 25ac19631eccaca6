"""L-BFGS on pixels in a box, with a backtracking line search: one evaluation per step.

torch's L-BFGS either steps without a line search (fast, but on this objective a step now and
then lands far uphill, and the [0, 1] clamp between steps corrupts its curvature pairs) or runs
a strong-Wolfe search that re-evaluates the point it ends on. This one keeps the good parts:

* the two-loop recursion over the last ``history_size`` pairs (Nocedal & Wright, Alg. 7.4);
* projected steps: the trial point is clamped to ``[lower, upper]`` and the curvature pair uses
  the step actually taken, so the memory stays consistent with what the objective saw;
* Armijo backtracking (halving) that is almost never needed, so a step costs one evaluation of
  the objective: the evaluation that accepts a point is also the next step's starting point;
* a restart from steepest descent when the direction is not downhill or the search fails.

The loss decreases monotonically.

It is a plain class with torch's optimiser interface (``step(closure)``, ``zero_grad``), not a
``torch.optim.Optimizer``: constructing one of those imports ``torch._dynamo``, 1.6-2.4 s of
every run's start on the project's 2-core CPU, for machinery a one-tensor optimiser never uses.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Armijo constant: accept a step that achieves this fraction of the predicted decrease.
ARMIJO = 1e-4
#: Halvings tried before the memory is dropped and steepest descent takes over.
MAX_BACKTRACKS = 8
#: Largest change of any pixel in a steepest-descent step (pixels live in [0, 1]).
FIRST_STEP = 0.01


class BoxLBFGS:
    """L-BFGS for one tensor of pixels constrained to a box (see the module docstring).

    Args:
        params: a single tensor (wrapped in a list, as torch optimisers take it).
        history_size: number of curvature pairs kept.
        lower, upper: the box: numbers, or tensors shaped like the pixels (a box per pixel).
            A pixel whose box is a single value is fixed: its gradient is taken as zero.
        history_dtype: the dtype the curvature pairs are stored in (default: the tensor's).
            ``torch.bfloat16`` halves their memory; the recursion still computes in the
            tensor's dtype, and each pair's ``rho = 1 / (s . y)`` is taken from the stored
            (rounded) vectors so the pairs stay consistent.

    ``step(closure)``: ``closure`` zeroes the gradient, evaluates the loss at the tensor's
    current value, backpropagates and returns the loss. Returns the loss at the accepted point.

    All vectors (the curvature pairs in a ring of ``history_size + 1`` slots, the gradients,
    the start point, the direction, two work vectors) are allocated once: a step allocates
    nothing the size of the image, so the process does not grow while the memory fills (with
    fresh vectors every step it grew by several times the pairs' size, in freed pieces that
    the allocator could not reuse).
    """

    def __init__(self, params: list[torch.Tensor], history_size: int = 20,
                 lower: float | torch.Tensor = 0.0, upper: float | torch.Tensor = 1.0,
                 history_dtype: torch.dtype | None = None) -> None:  # fmt: skip
        if len(params) != 1 or not isinstance(params[0], torch.Tensor):
            raise ValueError("BoxLBFGS optimises exactly one tensor")
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self.x: torch.Tensor = params[0]
        if not self.x.is_contiguous():
            raise ValueError("BoxLBFGS needs a contiguous tensor")
        self.history_size = history_size
        n, device, dtype = self.x.numel(), self.x.device, self.x.dtype
        # The box: two numbers, or (flat) a lower and an upper value per pixel.
        self._range = (
            float(lower) if not isinstance(lower, torch.Tensor) else 0.0,
            float(upper) if not isinstance(upper, torch.Tensor) else 1.0,
        )
        self._box: tuple[torch.Tensor, torch.Tensor] | None = None
        self._fixed: torch.Tensor | None = None
        if isinstance(lower, torch.Tensor) or isinstance(upper, torch.Tensor):
            lo, hi = (
                torch.as_tensor(b, dtype=dtype, device=device).expand_as(self.x).reshape(-1)
                for b in (lower, upper)
            )
            self._box, self._fixed = (lo, hi), hi <= lo

        def vector() -> torch.Tensor:
            return torch.empty(n, dtype=dtype, device=device)

        # One spare slot: a new pair is written there and kept only if it passes the
        # curvature test, without overwriting the oldest pair first.
        ring = (history_size + 1, n)
        self._s = torch.empty(ring, dtype=history_dtype or dtype, device=device)
        self._y = torch.empty(ring, dtype=history_dtype or dtype, device=device)
        self._rho: list[float] = [0.0] * (history_size + 1)
        self._newest = -1  # slot of the newest pair
        self._count = 0  # pairs held
        self._g0, self._g1, self._x0, self._d = vector(), vector(), vector(), vector()
        self._u, self._v = vector(), vector()  # work vectors (pairs read back, the step)
        self.f: float | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the tensor's gradient (drops it if ``set_to_none``), as torch's optimisers do."""
        if self.x.grad is None:
            return
        if set_to_none:
            self.x.grad = None
        else:
            self.x.grad.detach_().zero_()

    def _slots(self) -> list[int]:
        """Slots of the pairs held, oldest first."""
        ring = self.history_size + 1
        return [(self._newest - k) % ring for k in range(self._count - 1, -1, -1)]

    def pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The curvature pairs ``(s, y)`` held, oldest first (views, not copies)."""
        return [(self._s[i], self._y[i]) for i in self._slots()]

    def _evaluate(self, closure: Callable[[], torch.Tensor], out: torch.Tensor) -> float:
        """The loss at the tensor's current value; its gradient is copied into ``out``."""
        with torch.enable_grad():
            loss = closure()
        grad = self.x.grad
        if grad is None:
            raise RuntimeError("the closure did not compute a gradient")
        out.copy_(grad.detach().reshape(-1))
        if self._fixed is not None:
            out.masked_fill_(self._fixed, 0.0)
        return float(loss.detach())

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion (steepest descent scaled to FIRST_STEP if empty),
        written into the direction buffer."""
        d = self._d
        if not self._count:
            return torch.mul(g, -FIRST_STEP / max(float(g.abs().max()), 1e-30), out=d)
        slots = self._slots()
        q, u = d.copy_(g), self._u
        alphas = []
        for i in reversed(slots):
            a = self._rho[i] * float(u.copy_(self._s[i]).dot(q))
            alphas.append(a)
            q.add_(u.copy_(self._y[i]), alpha=-a)
        s, y = self._v.copy_(self._s[slots[-1]]), u.copy_(self._y[slots[-1]])
        r = q.mul_(float(s.dot(y)) / float(y.dot(y)))
        for i, a in zip(slots, reversed(alphas), strict=True):
            b = self._rho[i] * float(u.copy_(self._y[i]).dot(r))
            r.add_(u.copy_(self._s[i]), alpha=a - b)
        return r.neg_()

    def _reset(self) -> None:
        self._count = 0

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> float:
        """One L-BFGS iteration; see the class docstring."""
        x = self.x.view(-1)
        if self.f is None:
            self.f = self._evaluate(closure, self._g0)
        f0, g0, g1, x0 = self.f, self._g0, self._g1, self._x0
        x0.copy_(x)
        d = self._direction(g0)
        if float(g0.dot(d)) >= 0:  # not downhill: forget the memory
            self._reset()
            d = self._direction(g0)
        step = self._v
        t = 1.0
        for _ in range(MAX_BACKTRACKS + 1):
            torch.add(x0, d, alpha=t, out=x)
            if self._box is not None:
                x.clamp_(*self._box)
            else:
                x.clamp_(*self._range)
            f1 = self._evaluate(closure, g1)
            torch.sub(x, x0, out=step)
            if f1 <= f0 + ARMIJO * float(g0.dot(step)) and f1 == f1:  # f1 == f1: not NaN
                break
            t *= 0.5
        else:  # no acceptable point along d: back to x0, drop the memory
            x.copy_(x0)
            self._reset()
            self.f = self._evaluate(closure, g0)
            return self.f
        # The new pair goes to the spare slot and is read back, as the recursion will see it.
        spare = (self._newest + 1) % (self.history_size + 1)
        s = step.copy_(self._s[spare].copy_(step))
        y = self._u.copy_(self._y[spare].copy_(torch.sub(g1, g0, out=self._u)))
        sy = float(s.dot(y))
        if sy > 1e-10 * float(y.dot(y)):
            self._rho[spare] = 1.0 / sy
            self._newest = spare
            self._count = min(self._count + 1, self.history_size)
        self.f = f1
        self._g0, self._g1 = g1, g0
        return f1
