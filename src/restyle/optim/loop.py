"""The optimisation over scales: a built network, an objective per scale and a start image in,
:class:`~restyle.optim.progress.Progress` out. No files, no colour handling, no PIL here: the
task that serves the user (:mod:`restyle.tasks.stylize`) prepares the tensors.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

from ..config import Settings
from ..device import out_of_memory
from ..errors import OutOfMemory, RestyleError
from ..memory import release_free_memory
from ..net.vgg import VGGFeatures
from ..objective.evaluate import evaluate, layers_of
from ..objective.terms import Term
from ..objective.tiles import tiles_for
from .lbfgs import BoxLBFGS
from .progress import Progress

#: L-BFGS memory (pairs of vectors the size of the image).
LBFGS_HISTORY = 20
#: ... stored in bfloat16 (for float32 pixels): half the memory; final losses of float32 runs
#: at 200 and 300 px were within 1.5% either way of float32 pairs (see bench/README.md).
LBFGS_HISTORY_DTYPE = torch.bfloat16
#: ... but at most this many bytes of it (a 4096 x 3072 image keeps 14 bfloat16 pairs, not 20).
LBFGS_HISTORY_BYTES = 2 << 30
#: A scale stops early after this many steps in a row below the relative-change tolerance.
PATIENCE = 5


class Problem(Protocol):
    """What the loop optimises: the objective at each scale, and where the first scale starts."""

    def terms(self, width: int, height: int) -> list[Term]:
        """The objective's terms for an image of ``width`` x ``height`` (targets at that size)."""
        ...

    def first_image(self, width: int, height: int) -> torch.Tensor:
        """The start of the first scale, ``(N, 3, height, width)`` in [0, 1]."""
        ...

    def next_image(self, previous: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """The start of a later scale from the result of the scale before it, ``previous``
        (smaller), at ``width`` x ``height``; :func:`upsample` is the plain answer."""
        ...

    def bounds(self, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The box each pixel lives in at this size, ``(lower, upper)`` broadcastable to the
        image; a pixel with ``lower == upper`` is fixed. None: every pixel in [0, 1]."""
        ...


def upsample(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``x`` resized to ``width`` x ``height`` (bicubic): a coarse scale's result carried up."""
    return F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)


#: (lower, upper) of every pixel, numbers or tensors.
Box = tuple[float | torch.Tensor, float | torch.Tensor]


def clamp_to(x: torch.Tensor, box: Box) -> torch.Tensor:
    """``x`` clamped into ``box`` in place."""
    lower, upper = box
    if isinstance(lower, torch.Tensor) or isinstance(upper, torch.Tensor):
        return x.clamp_(torch.as_tensor(lower).to(x), torch.as_tensor(upper).to(x))
    return x.clamp_(lower, upper)


def make_optimizer(
    x: torch.Tensor, settings: Settings, box: Box = (0.0, 1.0)
) -> BoxLBFGS | torch.optim.Adam:
    """The optimiser ``settings`` ask for, over the pixels ``x`` in ``box`` (L-BFGS keeps
    them there; Adam's steps are clamped by the loop)."""
    if settings.optimizer == "lbfgs":
        # float64 pixels (exact checks) keep float64 pairs.
        dtype = LBFGS_HISTORY_DTYPE if x.dtype == torch.float32 else x.dtype
        pair = 2 * x.numel() * dtype.itemsize
        history = max(3, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // pair))
        lower, upper = box
        return BoxLBFGS([x], history_size=history, lower=lower, upper=upper, history_dtype=dtype)
    return torch.optim.Adam([x], lr=settings.learning_rate)


class Optimization:
    """Coarse to fine over ``sizes``: iterate for :class:`Progress`; :meth:`current` any time.

    Each scale starts from ``problem.next_image`` of the previous scale's best image; the first
    from ``problem.first_image``. The best point evaluated at a scale is its result.

    Args:
        net: the built feature network (see :mod:`restyle.net.cache`).
        problem: the objective per scale and the first image.
        sizes: ``(width, height)`` per scale, smallest first.
        steps: the step budget per scale.
        settings: optimiser, tolerance and tile budget.
    """

    def __init__(
        self,
        net: VGGFeatures,
        problem: Problem,
        sizes: Sequence[tuple[int, int]],
        steps: Sequence[int],
        settings: Settings,
    ) -> None:
        if len(sizes) != len(steps) or not sizes:
            raise ValueError("one step budget per scale, and at least one scale")
        self.net = net
        self.problem = problem
        self.sizes = list(sizes)
        self.steps = list(steps)
        self.settings = settings
        self._x: torch.Tensor | None = None
        #: The best point evaluated at the current scale, and its loss terms.
        self._best: torch.Tensor | None = None
        self._best_losses: dict[str, float] = {}

    def current(self) -> torch.Tensor | None:
        """The current result (the best point of the current scale), or None before the start."""
        if self._x is None:
            return None
        return (self._best if self._best is not None else self._x).detach()

    def _steps(
        self, terms: list[Term], x: torch.Tensor, n_steps: int, box: Box
    ) -> Iterator[dict[str, float]]:
        """Optimise ``x`` in place (within ``box``) for up to ``n_steps``, yielding each step's
        loss terms.

        Stops early once the relative change of the loss stays below the tolerance for
        :data:`PATIENCE` steps; a non-finite loss sends ``x`` back to the best point.
        """
        opt = make_optimizer(x, self.settings, box)
        last: dict[str, float] = {}
        # The optimiser sees the loss divided by its value at the scale's start: L-BFGS's
        # first step and its curvature test (y.s > 1e-10) depend on the loss's absolute size,
        # and only the ratios of the weights should matter.
        norm: float | None = None
        _, _, h, w = x.shape
        tiles = tiles_for(w, h, self.settings.tile_pixels, layers_of(terms))

        def closure() -> torch.Tensor:
            nonlocal last, norm
            opt.zero_grad(set_to_none=False)
            last, backward = evaluate(self.net, terms, x, tiles)
            if norm is None:
                norm = 1.0 / max(abs(last["total"]), 1e-30)
            backward(norm)
            return torch.tensor(last["total"] * norm)

        prev, calm = math.inf, 0
        # BoxLBFGS evaluates the point it accepts (``last`` is the loss there); Adam evaluates
        # before it steps (``last`` is the loss at ``before``). Either way the best point
        # evaluated is what the scale ends with and what current() shows meanwhile.
        # Both copies live in buffers allocated once per scale (nothing image-sized per step).
        best = math.inf
        kept = torch.empty_like(x, requires_grad=False)
        before = None if isinstance(opt, BoxLBFGS) else torch.empty_like(kept)
        for _ in range(n_steps):
            if before is not None:
                before.copy_(x.detach())
            try:
                opt.step(closure)  # type: ignore[no-untyped-call,arg-type]
            except (MemoryError, RuntimeError) as e:
                if out_of_memory(e):
                    raise OutOfMemory() from e
                raise
            total = last["total"]
            if total < best:
                best, self._best_losses = total, last
                self._best = kept.copy_(x.detach() if before is None else before)
            if not math.isfinite(total):  # NaN poisons the optimiser's state: back to the best
                if self._best is None:
                    raise RestyleError(
                        "the loss is infinite or NaN; try smaller weights or --precision float32"
                    )
                with torch.no_grad():
                    x.copy_(self._best)
                opt = make_optimizer(x, self.settings, box)
            with torch.no_grad():
                clamp_to(x, box)
            yield last
            change = abs(prev - total) / max(abs(total), 1e-12)
            prev = total
            calm = calm + 1 if change < self.settings.tolerance else 0
            if calm >= PATIENCE:
                return

    def __iter__(self) -> Iterator[Progress]:
        start = time.perf_counter()
        work = [n * w * h for n, (w, h) in zip(self.steps, self.sizes, strict=True)]
        total_steps = sum(self.steps)
        done_steps = 0
        rate: float | None = None
        for si, ((w, h), n_steps) in enumerate(zip(self.sizes, self.steps, strict=True)):
            # The last scale's buffers are free now; without this the next, larger scale
            # grows the process by what the allocator keeps (see restyle.memory).
            release_free_memory()
            terms = self.problem.terms(w, h)
            release_free_memory()  # what computing this scale's targets left behind
            if self._x is None:
                x0 = self.problem.first_image(w, h)
            else:
                prev_x = self._best if self._best is not None else self._x
                x0 = self.problem.next_image(prev_x.detach(), w, h)
            box: Box = self.problem.bounds(w, h) or (0.0, 1.0)
            x = clamp_to(x0.detach().clone(), box).contiguous().requires_grad_(True)
            self._x, self._best = x, None
            last_scale = si == len(self.sizes) - 1
            pending: Progress | None = None
            scale_start, first_step_done = time.perf_counter(), 0.0
            for step, losses in enumerate(self._steps(terms, x, n_steps, box), start=1):
                if pending is not None:
                    yield pending
                done_steps += 1
                now = time.perf_counter()
                elapsed = now - start
                left = sum(work[si + 1 :]) + (n_steps - step) * w * h
                # Seconds per pixel-step, from this scale's steps after its first (which sets up
                # the new shapes and often backtracks, and costs several steps' time); until
                # then the last estimate, or before there is one this scale's own steps so far
                # (not the run's start-up, which would inflate the first estimates tenfold).
                if step == 1:
                    first_step_done = now
                elif step > 2:
                    rate = (now - first_step_done) / ((step - 1) * w * h)
                eta_rate = rate if rate is not None else (now - scale_start) / (step * w * h)
                pending = Progress(
                    scale=si,
                    scales=len(self.sizes),
                    width=w,
                    height=h,
                    step=step,
                    steps=n_steps,
                    total_step=done_steps,
                    total_steps=total_steps,
                    losses=losses,
                    elapsed=elapsed,
                    eta=left * eta_rate,
                    done=False,
                )
            if pending is not None:
                # The scale's last step: if it stopped early, its unused steps leave the budget.
                total_steps -= n_steps - pending.step
                # It reports the best point's terms: that point is the scale's result.
                yield dataclasses.replace(
                    pending,
                    total_steps=total_steps,
                    steps=pending.step,
                    done=last_scale,
                    losses=self._best_losses or pending.losses,
                )
