"""Where the project's example images live (``../shared/images`` beside the checkout), and
what the benchmarks say about the machine.

The one place that knows the path; tests, benchmarks and build scripts import it from here.
"""

from __future__ import annotations

import platform
from pathlib import Path

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
