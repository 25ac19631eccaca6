"""``restyle apply MODEL INPUT [INPUT ...] -o OUT``: paint photos with a feed-forward network.

Also home of :func:`fast_to_file`, the main command's ``--fast`` (the arbitrary network).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..config import COLOR_MODES, Settings
from ..errors import RestyleError
from ..media.image import ImageSource
from .common import EXIT_INTERRUPTED, EXIT_OK, Parser, settings_from_args

#: Formats ``--format`` offers for folder outputs.
FORMATS: tuple[str, ...] = ("png", "jpg", "webp", "tif")


def check_fast_strength(settings: Settings) -> None:
    """With a feed-forward network, ``--style-strength`` runs from 0 (the photo) to 1 (the
    painting, the default).

    Raises:
        RestyleError: If it is above 1.
    """
    if settings.style_strength > 1.0:
        raise RestyleError(
            "with a feed-forward network (--fast, restyle apply) --style-strength runs from 0 "
            f"(the photo) to 1 (the painting, the default); got {settings.style_strength:g}"
        )


def fast_to_file(
    content: ImageSource,
    styles: Sequence[ImageSource],
    output: str,
    settings: Settings,
    stderr: IO[str],
    *,
    quiet: bool = False,
) -> int:
    """The main command with ``--fast``: one forward pass of the arbitrary-style network
    (Ghiasi et al. 2017), written like any output, its metadata recording the network and the
    strength."""
    from ..api import stylize_fast
    from ..media.image import check_output_path, save_image
    from ..media.metadata import output_metadata
    from ..tasks.apply import instant_method

    check_fast_strength(settings)
    inputs = [content, *styles]
    out = check_output_path(output, [str(x) for x in inputs if isinstance(x, (str, Path))])
    began = time.perf_counter()
    image = stylize_fast(content, list(styles), settings)
    meta = output_metadata(
        settings,
        str(content) if isinstance(content, (str, Path)) else None,
        [str(s) for s in styles if isinstance(s, (str, Path))],
        instant_method(settings.style_strength),
    )
    save_image(image, out, metadata=meta)
    if not quiet:
        print(f"restyle: wrote {out} ({time.perf_counter() - began:.2f} s)", file=stderr)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``restyle apply``."""
    p = Parser(
        prog="restyle apply",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Paint photos with a feed-forward network: a model trained by "
        "'restyle train', or the arbitrary-style network with a painting (arbitrary:STYLE).",
        epilog="examples:\n"
        "  restyle apply starry.pt photo.jpg -o out.jpg\n"
        "  restyle apply starry.pt photos/ more.jpg -o painted/ --size 1024\n"
        "  restyle apply arbitrary:the-scream photos/ -o painted/ --style-strength 0.7\n"
        "  restyle apply arbitrary:my_painting.jpg photo.jpg -o out.png",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a model file from 'restyle train', or arbitrary:STYLE with STYLE a painting "
        "file or a built-in painting's name",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos and folders of photos")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="an image file (one photo in), or a folder (created if missing)",
    )
    p.add_argument("--size", type=int, help="longest side of the outputs in px (default 512)")
    p.add_argument("--width", type=int, help="output width in px")
    p.add_argument("--height", type=int, help="output height in px")
    p.add_argument(
        "--style-strength",
        type=float,
        help="from 0 (the photo) to 1 (the painting, the default)",
    )
    p.add_argument("--color", choices=COLOR_MODES, help="luminance: keep the photos' colours")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--format", choices=FORMATS, default="png", help="file format in a folder (default png)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def _plan(inputs: list[Path], output: str, suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one file, or a folder with one output per photo."""
    from ..media.image import SAVE_FORMATS

    out = Path(output)
    if len(inputs) == 1 and out.suffix.lower() in SAVE_FORMATS:
        return [(inputs[0], out)]
    if out.exists() and not out.is_dir():
        raise RestyleError(f"output {output} must be a folder when several photos are painted")
    if not out.exists():
        if not out.parent.is_dir():
            raise RestyleError(f"the folder {out.parent} of the output does not exist")
        out.mkdir()
    taken: set[str] = set()
    pairs = []
    for src in inputs:
        name, n = f"{src.stem}.{suffix}", 1
        while name in taken:
            n += 1
            name = f"{src.stem}_{n}.{suffix}"
        taken.add(name)
        pairs.append((src, out / name))
    return pairs


def main(argv: list[str], stderr: IO[str]) -> int:
    """``restyle apply``: see the module's docstring."""
    from ..media.image import check_output_path, load_image, save_image
    from ..media.metadata import output_metadata
    from ..tasks.apply import expand_photos, open_model

    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    check_fast_strength(settings)
    photos = expand_photos(list(args.inputs))
    painter = open_model(args.model)
    pairs = _plan(photos, args.output, args.format)
    every = [str(p) for p in photos]
    method = painter.method(settings)
    styles = [args.model[len("arbitrary:") :]] if painter.net is None else []
    try:
        for i, (src, dst) in enumerate(pairs):
            out = check_output_path(dst, every)
            began = time.perf_counter()
            image = painter.paint(load_image(src, role="photo"), settings)
            save_image(image, out, metadata=output_metadata(settings, str(src), styles, method))
            if not args.quiet:
                print(
                    f"restyle: [{i + 1}/{len(pairs)}] wrote {out} "
                    f"({time.perf_counter() - began:.2f} s)",
                    file=stderr,
                )
    except KeyboardInterrupt:
        print(f"restyle: interrupted after {i} of {len(pairs)} images", file=stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
