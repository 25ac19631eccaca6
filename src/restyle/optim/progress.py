"""What a run reports as it goes: a record per step, and how to show its time left."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """One optimisation step's report.

    Attributes:
        scale: index of the current scale (0-based) of ``scales``.
        scales: number of scales.
        width, height: size being optimised now.
        step: step within this scale (1-based); ``steps`` its budget.
        total_step, total_steps: steps so far and the whole run's budget.
        losses: weighted loss terms ``total``, ``content``, ``style``, ``tv``.
        elapsed: seconds since the run started; ``eta`` estimated seconds left.
        done: True on the last report of the run.
    """

    scale: int
    scales: int
    width: int
    height: int
    step: int
    steps: int
    total_step: int
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float = 0.0
    done: bool = False


def clock(seconds: float) -> str:
    """``75.2`` -> ``"1:15"``; ``3725`` -> ``"1:02:05"`` (negative counts as 0)."""
    s = max(0, round(seconds))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
