"""Where the project's example images live: ``../shared/images`` beside the checkout.

The one place that knows the path; tests, benchmarks and build scripts import it from here.
"""

from __future__ import annotations

from pathlib import Path

#: The repository's root (the folder holding ``src/``, ``tests/``, ``tools/``).
ROOT = Path(__file__).resolve().parents[1]
#: The shared folder beside the checkout.
SHARED = ROOT.parent / "shared"
#: Example photos (``content/``) and paintings (``style/``); see its ``SOURCES.md``.
IMAGES = SHARED / "images"
CONTENT = IMAGES / "content"
STYLE = IMAGES / "style"
