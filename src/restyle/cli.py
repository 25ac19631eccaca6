"""The ``restyle`` command: a thin layer over :mod:`restyle.api`.

``main(argv) -> exit status`` never raises for bad input: it prints one line to stderr and
returns 2. Sub-commands (``example``, ``score``, ``serve``, ``figures``) live in their own
modules and are imported only when used.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .config import COLOR_MODES, OPTIMIZERS, POOLINGS, PRECISIONS, Settings
from .errors import RestyleError
from .image import ImageSource

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Sub-command name -> "module:function" taking argv and returning an exit status.
COMMANDS: dict[str, tuple[str, str]] = {
    "example": ("restyle.example", "stylise a built-in example photo (no files needed)"),
    "score": ("restyle.scoring", "measure content, style and colour distances of an image"),
    "serve": ("restyle.web", "start the local web app"),
    "figures": ("restyle.figures", "regenerate the paper's figures as contact sheets"),
}

_DEFAULTS = Settings()


def _d(name: str) -> Any:
    return getattr(_DEFAULTS, name)


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            return tuple(kind(p) for p in parts)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}") from e

    return parse


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line and exits with status 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """Options that map to :class:`~restyle.config.Settings` fields (defaults shown from it)."""
    g = p.add_argument_group("size")
    g.add_argument(
        "--size", type=int, help=f"longest side of the output in px (default {_d('size')})"
    )
    g.add_argument("--width", type=int, help="output width in px (height follows if not given)")
    g.add_argument("--height", type=int, help="output height in px")
    g = p.add_argument_group("objective (Gatys et al. 2016)")
    g.add_argument(
        "--content-weight",
        "--alpha",
        dest="content_weight",
        type=float,
        help=f"alpha (default {_d('content_weight'):g})",
    )
    g.add_argument(
        "--style-weight",
        "--beta",
        dest="style_weight",
        type=float,
        help=f"beta (default {_d('style_weight'):g})",
    )
    g.add_argument(
        "--style-strength", type=float, help="multiplies beta: >1 more style, <1 less (default 1)"
    )
    g.add_argument(
        "--content-layers",
        type=_csv(str),
        help=f"comma-separated (default {','.join(_d('content_layers'))})",
    )
    g.add_argument(
        "--style-layers",
        type=_csv(str),
        help=f"comma-separated (default {','.join(_d('style_layers'))})",
    )
    g.add_argument(
        "--style-layer-weights", type=_csv(float), help="one weight per style layer (default equal)"
    )
    g.add_argument(
        "--reference-pixels",
        type=int,
        help="alpha is scaled by this / output pixels so every size gets the same balance "
        f"(default {_d('reference_pixels')} = 512x512; 0: the paper's sums at the output size)",
    )
    g.add_argument("--tv-weight", type=float, help=f"total variation (default {_d('tv_weight'):g})")
    g.add_argument("--pooling", choices=POOLINGS, help=f"(default {_d('pooling')})")
    g.add_argument(
        "--no-normalize",
        dest="normalize",
        action="store_false",
        default=None,
        help="use VGG19's raw filter scales instead of the paper's mean-activation-1 rescaling",
    )
    g = p.add_argument_group("style images and colour")
    g.add_argument(
        "--style-blend",
        type=_csv(float),
        help="one weight per style image, e.g. 0.7,0.3 (default equal)",
    )
    g.add_argument(
        "--style-scale", type=float, help="style image size relative to the output (default 1)"
    )
    g.add_argument(
        "--color",
        choices=COLOR_MODES,
        help="luminance: keep the photo's colours; histogram: match the style's "
        f"colours to the photo first (default {_d('color')})",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument(
        "-n", "--iterations", type=int, help=f"steps over all scales (default {_d('iterations')})"
    )
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {_d('optimizer')})")
    g.add_argument(
        "--lr",
        dest="learning_rate",
        type=float,
        help=f"Adam step size (default {_d('learning_rate')})",
    )
    g.add_argument(
        "--tolerance",
        type=float,
        help=f"stop a scale when the loss changes less than this (default {_d('tolerance'):g})",
    )
    g.add_argument("--init", help=f"content, noise, style or an image path (default {_d('init')})")
    g.add_argument("--seed", type=int, help=f"random seed (default {_d('seed')})")
    g.add_argument(
        "--single-scale",
        dest="multiscale",
        action="store_false",
        default=None,
        help="optimise at the output size only (the paper's way; slower)",
    )
    g.add_argument(
        "--min-scale",
        type=int,
        help=f"first coarse-to-fine scale in px (default {_d('min_scale')})",
    )
    g = p.add_argument_group("hardware")
    g.add_argument("--weights", help="bundled (default), torchvision, or a state-dict path")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    g.add_argument("--precision", choices=PRECISIONS, help="network precision (default auto)")


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Settings from parsed options; options not given keep ``base``'s (default) values."""
    names = {f.name for f in dataclasses.fields(Settings)}
    changes = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return (base or Settings()).replace(**changes)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the main (stylise) command."""
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
    add_settings_arguments(p)
    add_output_arguments(p)
    return p


def output_metadata(
    settings: Settings, content: str | None, styles: Sequence[str]
) -> dict[str, str]:
    """What is stored in the output file: the settings and the input names, as JSON."""
    from . import __version__

    info = {
        "version": __version__,
        "content": content,
        "styles": list(styles),
        "settings": settings.to_dict(),
    }
    return {"restyle": json.dumps(info, sort_keys=True), "Software": f"restyle {__version__}"}


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
) -> int:
    """Run one stylisation with a progress bar and write the result atomically.

    Ctrl-C writes the latest image before returning :data:`EXIT_INTERRUPTED`.
    """
    from .api import stylize_iter
    from .image import check_output_path, save_image
    from .progress import ProgressReporter

    if save_every < 0:
        raise RestyleError(f"--save-every must be 0 or more, got {save_every}")
    paths = [str(x) for x in [content, *styles] if isinstance(x, (str, Path))]
    out = check_output_path(output, paths)
    run = stylize_iter(content, list(styles), settings)
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
    elif len(args.images) < 2:
        raise RestyleError(
            "give a content photo and at least one style image "
            "(or --texture with style images only)"
        )
    else:
        content, styles = args.images[0], list(args.images[1:])
    return stylise_to_file(
        content,
        styles,
        args.output,
        settings_from_args(args),
        stderr,
        quiet=args.quiet,
        log_json=args.log_json,
        save_every=args.save_every,
    )


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """--save-every, --quiet and --log-json."""
    g = p.add_argument_group("output and progress")
    g.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="write the current image to the output every N steps",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--log-json", metavar="FILE", help="write one JSON line per step to FILE ('-' for stdout)"
    )


def _dispatch(argv: list[str], err: IO[str]) -> int:
    if argv and argv[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[argv[0]][0])
        status: int = module.main(argv[1:], err)
        return status
    return stylise_command(argv, err)


def main(argv: Sequence[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Bad input never raises: one line goes to ``stderr`` and the status is 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    err = stderr or sys.stderr
    try:
        with contextlib.redirect_stderr(err):
            return _dispatch(argv, err)
    except RestyleError as e:
        print(f"restyle: error: {e}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("restyle: interrupted", file=err)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("restyle: error: out of memory; try a smaller --size", file=err)
        return EXIT_FAILURE
    except RuntimeError as e:
        if "out of memory" in str(e) or "can't allocate memory" in str(e):
            print("restyle: error: out of memory; try a smaller --size", file=err)
            return EXIT_FAILURE
        raise
    except SystemExit as e:  # argparse's --help and usage errors
        return e.code if isinstance(e.code, int) else EXIT_USAGE


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
