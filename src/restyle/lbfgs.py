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


class BoxLBFGS(torch.optim.Optimizer):
    """L-BFGS for one tensor of pixels constrained to a box (see the module docstring).

    Args:
        params: a single tensor (wrapped in a list, as torch optimisers take it).
        history_size: number of curvature pairs kept.
        lower, upper: the box.

    ``step(closure)``: ``closure`` zeroes the gradient, evaluates the loss at the tensor's
    current value, backpropagates and returns the loss. Returns the loss at the accepted point.
    """

    def __init__(self, params: list[torch.Tensor], history_size: int = 20, lower: float = 0.0,
                 upper: float = 1.0) -> None:  # fmt: skip
        super().__init__(params, {"history_size": history_size})
        if len(self.param_groups) != 1 or len(self.param_groups[0]["params"]) != 1:
            raise ValueError("BoxLBFGS optimises exactly one tensor")
        self.x: torch.Tensor = self.param_groups[0]["params"][0]
        self.history_size = history_size
        self.lower, self.upper = lower, upper
        self.s: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        self.rho: list[float] = []
        self.f: float | None = None
        self.g: torch.Tensor | None = None

    def _evaluate(self, closure: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
        with torch.enable_grad():
            loss = closure()
        grad = self.x.grad
        if grad is None:
            raise RuntimeError("the closure did not compute a gradient")
        return float(loss), grad.detach().reshape(-1).clone()

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion (steepest descent scaled to FIRST_STEP if empty)."""
        if not self.s:
            return -g * (FIRST_STEP / max(float(g.abs().max()), 1e-30))
        q = g.clone()
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho), strict=True):
            a = rho * float(s.dot(q))
            alphas.append(a)
            q.add_(y, alpha=-a)
        gamma = float(self.s[-1].dot(self.y[-1])) / float(self.y[-1].dot(self.y[-1]))
        r = q.mul_(gamma)
        for s, y, rho, a in zip(self.s, self.y, self.rho, reversed(alphas), strict=True):
            b = rho * float(y.dot(r))
            r.add_(s, alpha=a - b)
        return r.neg_()

    def _reset(self) -> None:
        self.s.clear()
        self.y.clear()
        self.rho.clear()

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> float:  # type: ignore[override]
        """One L-BFGS iteration; see the class docstring."""
        x = self.x
        if self.f is None or self.g is None:
            self.f, self.g = self._evaluate(closure)
        f0, g0 = self.f, self.g
        x0 = x.detach().reshape(-1).clone()
        d = self._direction(g0)
        if float(g0.dot(d)) >= 0:  # not downhill: forget the memory
            self._reset()
            d = self._direction(g0)
        t = 1.0
        for _ in range(MAX_BACKTRACKS + 1):
            trial = (x0 + t * d).clamp_(self.lower, self.upper)
            x.copy_(trial.view_as(x))
            f1, g1 = self._evaluate(closure)
            step = trial - x0
            if f1 <= f0 + ARMIJO * float(g0.dot(step)) and f1 == f1:  # f1 == f1: not NaN
                break
            t *= 0.5
        else:  # no acceptable point along d: back to x0, drop the memory
            x.copy_(x0.view_as(x))
            self._reset()
            self.f, self.g = self._evaluate(closure)
            return self.f
        yk = g1 - g0
        sy = float(step.dot(yk))
        if sy > 1e-10 * float(yk.dot(yk)):
            if len(self.s) == self.history_size:
                self.s.pop(0)
                self.y.pop(0)
                self.rho.pop(0)
            self.s.append(step)
            self.y.append(yk)
            self.rho.append(1.0 / sy)
        self.f, self.g = f1, g1
        return f1
