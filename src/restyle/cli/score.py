"""``restyle score``: print the quality metrics of :mod:`restyle.metrics` for an image.

Example::

    restyle score out.png --content photo.jpg --style starry_night.jpg
    restyle score out.png --content photo.jpg --style a.jpg --style b.jpg --json
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import IO, Any

from ..metrics import EVAL_POOLING, EVAL_SIZE, Scorer, Scores


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.3g}"


def _finite(value: Any) -> Any:
    """``value`` with infinite and NaN floats replaced by None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def format_table(scores: Scores, output_name: str) -> str:
    """The scores as a small human-readable table (several lines, ending in a newline)."""
    w, h = scores.size
    lines = [
        f"{output_name} (evaluated at {w}x{h} px, bundled VGG19, {EVAL_POOLING} pooling)",
        "",
        f"{'metric':32s} {'value':>9s}  meaning",
    ]
    if scores.content_layers:
        lines.append(
            f"{'content distance':32s} {_fmt(scores.content):>9s}  "
            f"0 = the photo's features at {','.join(scores.content_layers)}, "
            "1 = as far as the painting"
        )
    lines.append(
        f"{'style distance':32s} {_fmt(scores.style):>9s}  "
        "1 = as far as the photo's Gram matrices, 0 = the painting's"
    )
    for layer in scores.style_layers:
        rel = None if scores.style_per_layer is None else scores.style_per_layer[layer]
        lines.append(
            f"{'  ' + layer:32s} {_fmt(rel):>9s}  "
            f"(absolute E_l {scores.style_per_layer_abs[layer]:.3g})"
        )
    lines.append(
        f"{'colour distance to painting':32s} {_fmt(scores.color_to_style, 1):>9s}  "
        "Lab units (sliced Wasserstein); the photo's: "
        f"{_fmt(scores.color_reference, 1)}"
    )
    lines.append(
        f"{'colour distance to photo':32s} {_fmt(scores.color_to_content, 1):>9s}  Lab units"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str], stderr: IO[str], stdout: IO[str] | None = None) -> int:
    """``restyle score OUTPUT --content C --style S [--style S2] [--json]``; exit status."""
    from . import Parser

    out = stdout or sys.stdout
    p = Parser(
        prog="restyle score",
        description="Measure how close an image is to a content photo and a style painting "
        "(content, style and colour distances; see restyle.metrics for the definitions).",
    )
    p.add_argument("output", metavar="OUTPUT", help="the image to score")
    p.add_argument(
        "--content",
        metavar="PHOTO",
        help="the content photo (leave out for a texture: only absolute style and colour)",
    )
    p.add_argument(
        "--style",
        metavar="PAINTING",
        action="append",
        required=True,
        help="the style painting; repeat for several (blended with equal weights)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=EVAL_SIZE,
        help=f"evaluation size, longest side in px (default {EVAL_SIZE})",
    )
    p.add_argument(
        "--content-layers", help="comma-separated (default: the run defaults' content layers)"
    )
    p.add_argument(
        "--style-layers", help="comma-separated (default: the run defaults' style layers)"
    )
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    args = p.parse_args(argv)

    def layers(text: str | None) -> tuple[str, ...] | None:
        if text is None:
            return None
        return tuple(x.strip() for x in text.split(",") if x.strip())

    scorer = Scorer(
        args.content,
        args.style,
        content_layers=layers(args.content_layers),
        style_layers=layers(args.style_layers),
        size=args.size,
    )
    scores = scorer.score(args.output)
    if args.json:
        info = {"output": args.output, "content": args.content, "styles": args.style}
        info.update(scores.to_dict())
        out.write(json.dumps(_finite(info), sort_keys=True) + "\n")
    else:
        out.write(format_table(scores, args.output))
    return 0
