"""``restyle styles``: list the built-in paintings, one line each.

Example::

    $ restyle styles
    shipwreck        The Shipwreck of the Minotaur (J. M. W. Turner, c. 1805-1810): a storm ...
    ...
    $ restyle photo.jpg starry-night -o out.png
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO


def format_styles() -> str:
    """The built-in paintings as text: one line each (name, title, artist, year, description)."""
    from ..media.paintings import PAINTINGS

    width = max(len(p.name) for p in PAINTINGS) + 2
    return "".join(f"{p.name:{width}s}{p.label}: {p.description}\n" for p in PAINTINGS)


def main(argv: Sequence[str], stderr: IO[str], stdout: IO[str] | None = None) -> int:
    """``restyle styles``: print the built-in paintings to ``stdout``; exit status 0."""
    from . import Parser

    p = Parser(
        prog="restyle styles",
        description="List the built-in paintings. Give a name where a style image is expected: "
        "restyle photo.jpg starry-night -o out.png (a file of the same name wins).",
    )
    p.parse_args(argv)
    (stdout or sys.stdout).write(format_styles())
    return 0
