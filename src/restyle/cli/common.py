"""What every ``restyle`` command shares: exit statuses, the one-line-error parser, and the
options that map to :class:`~restyle.config.Settings` (defaults shown from it, never restated)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from ..config import COLOR_MODES, MASK_MODES, OPTIMIZERS, POOLINGS, PRECISIONS, Settings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

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
        "--style-balance",
        type=float,
        help="0..1: even out paintings, each style layer scaled by how far the photo starts "
        f"from the painting there (default {_d('style_balance'):g}; 0: the paper's weights)",
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
    g.add_argument(
        "--init",
        help="auto (palette when the style outweighs the photo so far that the run goes at one "
        "scale, else content), content, palette (the photo in the paintings' colours), noise, "
        "style, fast (the instant network's result) or an image path "
        f"(default {_d('init')})",
    )
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


def add_control_arguments(p: argparse.ArgumentParser) -> None:
    """Spatial control with masks and scale control (Gatys et al. 2017): the mask and painting
    files, and the :class:`~restyle.config.Settings` fields that go with them."""
    g = p.add_argument_group("regions and scales (Gatys et al. 2017)")
    g.add_argument(
        "--masks",
        type=_csv(str),
        metavar="A.png,B.png",
        help="one greyscale mask per style image (white = that style goes here); "
        "pixels no mask covers stay the photo",
    )
    g.add_argument(
        "--labels",
        metavar="REGIONS.png",
        help="a colour-coded label image (one flat colour per region), with --label-map",
    )
    g.add_argument(
        "--label-map",
        metavar="MAP",
        help='colour=painting pairs, e.g. "#ff0000=starry-night,#00ff00=photo" '
        "(photo: keep the photo there)",
    )
    g.add_argument(
        "--style-masks",
        type=_csv(str),
        metavar="A.png,-",
        help="with --masks: a mask on each style image choosing the part that gives the "
        "style ('-' for the whole painting)",
    )
    g.add_argument(
        "--mask-mode",
        choices=MASK_MODES,
        help="how masks reach deeper layers: simple (resized), inside (receptive field in "
        f"the region), all (touches it) (default {_d('mask_mode')})",
    )
    g.add_argument(
        "--mask-grow",
        type=int,
        help="grow (>0) or shrink (<0) each layer's mask by this many positions "
        f"(default {_d('mask_grow')})",
    )
    g.add_argument("--fine", metavar="PAINTING", help="scale control: the painting's fine strokes")
    g.add_argument(
        "--coarse",
        metavar="PAINTING",
        help="scale control: the painting whose large-scale structure goes with the fine "
        "strokes of --fine (or of the style image given)",
    )
    g.add_argument(
        "--fine-layers",
        type=_csv(str),
        help="style layers that take the fine painting; the rest take --coarse "
        f"(default {','.join(_d('fine_layers'))})",
    )


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Settings from parsed options; options not given keep ``base``'s (default) values."""
    names = {f.name for f in dataclasses.fields(Settings)}
    changes = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return (base or Settings()).replace(**changes)


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
