"""``restyle example``: stylise a built-in photo, needing no files and no network.

The images ship inside scikit-image's wheel: "Chelsea the cat" (CC0, Stefan van der Walt) in the
style of an immunohistochemistry micrograph of colonic glands (no known copyright restrictions,
Center for Microscopy And Molecular Imaging), whose brown-and-blue cell walls paint like strokes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO


def main(argv: Sequence[str], stderr: IO[str]) -> int:
    """``restyle example [-o example.png] [options]``."""
    from ..media.examples import example_images
    from .common import Parser, add_output_arguments, add_settings_arguments, settings_from_args
    from .stylise import stylise_to_file

    p = Parser(
        prog="restyle example",
        description="Stylise a built-in photo (scikit-image's cat) with a built-in style "
        "image (an immunohistochemistry micrograph).",
    )
    p.add_argument(
        "-o", "--output", default="example.png", help="output file (default example.png)"
    )
    add_settings_arguments(p)
    add_output_arguments(p)
    args = p.parse_args(argv)
    content, style = example_images()
    return stylise_to_file(
        content,
        [style],
        args.output,
        settings_from_args(args),
        stderr,
        quiet=args.quiet,
        log_json=args.log_json,
        save_every=args.save_every,
        names=("skimage.data.chelsea", ["skimage.data.immunohistochemistry"]),
    )
