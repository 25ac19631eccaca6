"""Rendering :class:`~restyle.optim.progress.Progress` for people (a bar) and for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from ..errors import RestyleError
from ..optim.progress import Progress, clock


def describe(p: Progress) -> str:
    """A one-line summary: scale, size, loss terms and time left."""
    parts = [
        f"scale {p.scale + 1}/{p.scales} {p.width}x{p.height}",
        f"loss {p.losses.get('total', 0):.4g} (content {p.losses.get('content', 0):.3g}, "
        f"style {p.losses.get('style', 0):.3g})",
        f"left {clock(p.eta)}",
    ]
    return " | ".join(parts)


R = TypeVar("R", bound="Reporter")


class Reporter:
    """A tqdm bar on ``stream`` (unless quiet) and an optional JSON-lines log (``-``: stdout),
    opened on ``with`` and closed after; subclasses say what one report shows."""

    def __init__(self, stream: IO[str], *, quiet: bool = False, json_path: str | None = None):
        self.stream = stream
        self.quiet = quiet
        self.json_path = json_path
        self._bar: Any = None
        self._log: IO[str] | None = None

    def __enter__(self: R) -> R:
        if self.json_path == "-":
            self._log = sys.stdout
        elif self.json_path:
            try:
                self._log = Path(self.json_path).open("w", encoding="utf-8")
            except OSError as e:
                raise RestyleError(f"cannot write log file {self.json_path}: {e.strerror}") from e
        return self

    def _show(self, total: float, done: float, text: str, unit: str, bar_format: str) -> None:
        """Move the bar (made on first use) to ``done`` of ``total`` with ``text`` beside it."""
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                file=self.stream,
                unit=unit,
                bar_format=bar_format,
                dynamic_ncols=True,
            )
        self._bar.total = total
        self._bar.set_postfix_str(text, refresh=False)
        self._bar.update(done - self._bar.n)

    def _write(self, record: dict[str, Any]) -> None:
        """One line of the JSON log, if there is one."""
        if self._log is not None:
            self._log.write(json.dumps(record) + "\n")
            self._log.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._log is not None and self._log is not sys.stdout:
            self._log.close()


class ProgressReporter(Reporter):
    """A bar over the steps of a still image, and its JSON-lines log."""

    def update(self, p: Progress) -> None:
        """Show one step."""
        if not self.quiet:
            self._show(
                p.total_steps,
                p.total_step,
                describe(p),
                "step",
                "{percentage:3.0f}%|{bar:20}| {n}/{total} [{elapsed}] {postfix}",
            )
        self._write(
            {
                "scale": p.scale,
                "scales": p.scales,
                "width": p.width,
                "height": p.height,
                "step": p.step,
                "steps": p.steps,
                "total_step": p.total_step,
                "total_steps": p.total_steps,
                "losses": p.losses,
                "elapsed": round(p.elapsed, 3),
                "eta": round(p.eta, 1),
                "done": p.done,
            }
        )
