"""The main command: stylise a photo (or synthesise a texture) into a file."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..config import Settings
from ..errors import RestyleError
from ..media.image import ImageSource
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    add_control_arguments,
    add_output_arguments,
    add_settings_arguments,
    settings_from_args,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the main (stylise) command."""
    from . import COMMANDS

    cmds = "\n".join(f"  restyle {name:8s} {help_}" for name, (_, help_) in COMMANDS.items())
    p = Parser(
        prog="restyle",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Repaint a photo in the style of a painting (Gatys, Ecker & Bethge 2016).",
        epilog=f"other commands (see restyle COMMAND --help):\n{cmds}\n\nexamples:\n"
        "  restyle photo.jpg starry_night.jpg -o out.png\n"
        "  restyle photo.jpg a.jpg b.jpg --style-blend 0.7,0.3 --color luminance -o out.jpg\n"
        "  restyle --texture starry_night.jpg --size 384 -o texture.png",
    )
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="content photo then one or more style images (only style images with --texture)",
    )
    p.add_argument("-o", "--output", required=True, help="output file: .png .jpg .webp or .tif")
    p.add_argument("--texture", action="store_true", help="no content photo: synthesise a texture")
    p.add_argument(
        "--fast",
        action="store_true",
        help="one forward pass of the arbitrary-style network (Ghiasi et al. 2017) instead of "
        "the optimisation: under a second; --style-strength then runs from 0 to 1",
    )
    add_settings_arguments(p)
    add_control_arguments(p)
    add_output_arguments(p)
    return p


def stylise_to_file(
    content: ImageSource | None,
    styles: Sequence[ImageSource],
    output: str,
    settings: Settings,
    stderr: IO[str],
    *,
    quiet: bool = False,
    log_json: str | None = None,
    save_every: int = 0,
    names: tuple[str | None, Sequence[str]] | None = None,
    masks: Sequence[ImageSource] | None = None,
    style_masks: Sequence[ImageSource | None] | None = None,
    coarse_style: ImageSource | None = None,
) -> int:
    """Run one stylisation with a progress bar and write the result atomically.

    Ctrl-C writes the latest image before returning :data:`EXIT_INTERRUPTED`.
    """
    from ..api import stylize_iter
    from ..media.image import check_output_path, save_image
    from ..media.metadata import output_metadata
    from .progress import ProgressReporter

    if save_every < 0:
        raise RestyleError(f"--save-every must be 0 or more, got {save_every}")
    inputs = [content, *styles, *(masks or ()), *(style_masks or ()), coarse_style]
    paths = [str(x) for x in inputs if isinstance(x, (str, Path))]
    out = check_output_path(output, paths)
    if masks is None and style_masks is None and coarse_style is None:
        run = stylize_iter(content, list(styles), settings)
    else:
        run = stylize_iter(
            content,
            list(styles),
            settings,
            masks=masks,
            style_masks=style_masks,
            coarse_style=coarse_style,
        )
    if run.balance is not None and len(run.sizes) == 1 and not quiet:
        (w, h), limit = run.sizes[0], run.settings.multiscale_balance_limit
        print(
            f"restyle: the style outweighs the content {run.balance:.0f} times (over {limit:g}): "
            f"one scale, every step at {w}x{h}",
            file=stderr,
        )
    content_name, style_names = names or (
        str(content) if isinstance(content, (str, Path)) else None,
        [str(s) for s in styles if isinstance(s, (str, Path))],
    )
    meta = output_metadata(run.settings, content_name, style_names)
    reporter = ProgressReporter(stderr, quiet=quiet, json_path=log_json)
    try:
        with reporter:
            for p in run:
                reporter.update(p)
                if save_every and p.total_step % save_every == 0 and not p.done:
                    save_image(run.image(), out, metadata=meta)
    except KeyboardInterrupt:
        save_image(run.image(), out, metadata=meta)
        print(f"restyle: interrupted; saved the latest image to {out}", file=stderr)
        return EXIT_INTERRUPTED
    save_image(run.image(), out, metadata=meta)
    if not quiet:
        print(f"restyle: wrote {out}", file=stderr)
    return EXIT_OK


def stylise_command(argv: Sequence[str], stderr: IO[str]) -> int:
    """The main command: stylise a content photo (or synthesise a texture) to a file."""
    args = build_parser().parse_args(argv)
    content: str | None
    if args.texture:
        content, styles = None, list(args.images)
    elif len(args.images) < 2 and args.labels is None and not args.fine:
        raise RestyleError(
            "give a content photo and at least one style image "
            "(or --texture with style images only)"
        )
    else:
        content, styles = args.images[0], list(args.images[1:])
    if args.fast:
        from .apply import fast_to_file

        if content is None or args.labels or args.masks or args.coarse or args.fine:
            raise RestyleError("--fast takes a photo and paintings (no --texture, masks or scales)")
        return fast_to_file(
            content, styles, args.output, settings_from_args(args), stderr, quiet=args.quiet
        )
    control = _control_inputs(args, styles)
    return stylise_to_file(
        content,
        control.styles,
        args.output,
        settings_from_args(args),
        stderr,
        quiet=args.quiet,
        log_json=args.log_json,
        save_every=args.save_every,
        masks=control.masks,
        style_masks=control.style_masks,
        coarse_style=args.coarse,
    )


@dataclass(frozen=True)
class _Control:
    """The paintings and the spatial control a command line asks for."""

    styles: list[str]
    masks: list[ImageSource] | None = None
    style_masks: list[ImageSource | None] | None = None


def _control_inputs(args: argparse.Namespace, styles: list[str]) -> _Control:
    """The paintings, region masks and style masks from the arguments, checked together."""
    if args.labels is None and args.masks is None and not args.coarse and not args.fine:
        if args.label_map is not None or args.style_masks is not None:
            raise RestyleError("--label-map goes with --labels, --style-masks with --masks")
        return _Control(styles)
    from ..media.masks import label_masks, parse_label_map

    masks: list[ImageSource] | None = list(args.masks) if args.masks is not None else None
    if args.labels is not None:
        if args.masks is not None:
            raise RestyleError("give either --masks or --labels, not both")
        if args.label_map is None:
            raise RestyleError('--labels needs --label-map, e.g. "#ff0000=starry-night"')
        if styles:
            raise RestyleError(
                "with --labels the paintings come from --label-map: give only the photo"
            )
        styles, label_images = label_masks(args.labels, parse_label_map(args.label_map))
        masks = list(label_images)
    elif args.label_map is not None:
        raise RestyleError("--label-map goes with --labels")
    if args.fine or args.coarse:
        if masks is not None:
            raise RestyleError("--fine/--coarse (scale control) does not combine with masks")
        if not args.coarse:
            raise RestyleError("--fine needs --coarse: the painting of the large-scale structure")
        if args.fine:
            if styles:
                raise RestyleError("give the fine painting either with --fine or positionally")
            styles = [args.fine]
    if not styles:
        raise RestyleError("give a content photo and at least one style image")
    if args.style_masks is not None and masks is None:
        raise RestyleError("--style-masks goes with --masks")
    style_masks: list[ImageSource | None] | None = None
    if args.style_masks is not None:
        style_masks = [None if m == "-" else m for m in args.style_masks]
    return _Control(styles, masks, style_masks)
