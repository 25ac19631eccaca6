"""Where the project's example images live (``../shared/images`` beside the checkout), what
the benchmarks say about the machine, and how they trace a run.

The one place that knows the path; tests, benchmarks and build scripts import it from here.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

#: The repository's root (the folder holding ``src/``, ``tests/``, ``tools/``).
ROOT = Path(__file__).resolve().parents[1]
#: The shared folder beside the checkout.
SHARED = ROOT.parent / "shared"
#: Example photos (``content/``) and paintings (``style/``); see its ``SOURCES.md``.
IMAGES = SHARED / "images"
CONTENT = IMAGES / "content"
STYLE = IMAGES / "style"


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: The benchmarks' photos, by file stem (files in :data:`CONTENT`).
PHOTOS = {"tubingen": "tubingen.jpg", "coffee": "coffee.png"}


def paintings() -> dict[str, str]:
    """The paintings of :data:`STYLE`, file stem -> file name."""
    exts = (".jpg", ".jpeg", ".png")
    return {p.stem: p.name for p in sorted(STYLE.glob("*")) if p.suffix.lower() in exts}


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``"all"`` (every photo of :data:`PHOTOS` with every painting) or ``PHOTO:PAINTING,...``
    (file stems) as (photo, painting) stems; an unknown name exits with a one-line message."""
    known = paintings()
    if text == "all":
        return [(photo, painting) for photo in PHOTOS for painting in known]
    pairs = []
    for item in text.split(","):
        photo, _, painting = item.strip().partition(":")
        if photo not in PHOTOS or painting not in known:
            raise SystemExit(
                f"unknown pair {item!r}: photos {', '.join(PHOTOS)}; paintings "
                f"{', '.join(known)} (as PHOTO:PAINTING)"
            )
        pairs.append((photo, painting))
    return pairs


def cpu_description() -> str:
    """The CPU's model name, its vector extensions, whether it has native bfloat16, and how many
    CPUs it has."""
    import torch

    from restyle.device import cpu_has_native_bf16

    bf16 = "native bfloat16" if cpu_has_native_bf16() else "no native bfloat16"
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{cpu_model()} ({capability}, {bf16}), {os.cpu_count()} CPUs"


def output_size_trace(
    photo: Any, painting: Any, settings: Any
) -> tuple[list[tuple[float, dict[str, float]]], Any]:
    """Run restyle: (seconds since the run's first step began, that step's losses) at each step
    at the output size, and the result."""
    from restyle.api import stylize_iter

    run = stylize_iter(photo, painting, settings)
    began = time.perf_counter()
    trace = []
    for p in run:
        if p.scale == p.scales - 1:
            trace.append((time.perf_counter() - began, dict(p.losses)))
    return trace, run.image()
