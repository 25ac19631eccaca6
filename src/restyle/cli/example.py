"""``restyle example``: paint a built-in photo with a built-in painting; no files, no network.

The photo ships inside scikit-image's wheel and the painting inside restyle (see
:mod:`restyle.media.examples`). ``--style`` picks another built-in painting (``restyle styles``
lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO


def main(argv: Sequence[str], stderr: IO[str]) -> int:
    """``restyle example [-o example.png] [--style NAME] [options]``."""
    from ..media.examples import EXAMPLE_PAINTING, EXAMPLE_PHOTO, PHOTO_TITLE, example_photo
    from ..media.paintings import get_painting
    from .common import Parser, add_output_arguments, add_settings_arguments, settings_from_args
    from .stylise import stylise_to_file

    default = get_painting(EXAMPLE_PAINTING)
    p = Parser(
        prog="restyle example",
        description=f"Paint a built-in photo (scikit-image's {PHOTO_TITLE.lower()}) in the style "
        f"of a built-in painting ({default.title} by {default.artist}, unless --style names "
        "another; see restyle styles).",
    )
    p.add_argument(
        "-o", "--output", default="example.png", help="output file (default example.png)"
    )
    p.add_argument(
        "--style",
        default=default.name,
        metavar="NAME",
        help=f"a built-in painting (default {default.name}; restyle styles lists them)",
    )
    add_settings_arguments(p)
    add_output_arguments(p)
    args = p.parse_args(argv)
    painting = get_painting(args.style)
    return stylise_to_file(
        example_photo(),
        [painting.load()],
        args.output,
        settings_from_args(args),
        stderr,
        quiet=args.quiet,
        log_json=args.log_json,
        save_every=args.save_every,
        names=(f"skimage.data.{EXAMPLE_PHOTO}", [painting.name]),
    )
