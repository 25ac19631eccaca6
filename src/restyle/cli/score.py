"""``restyle score``: print the quality metrics of :mod:`restyle.metrics` for an image.

Example::

    restyle score out.png --content photo.jpg --style starry_night.jpg
    restyle score out.png --content photo.jpg --style a.jpg --style b.jpg --json
    restyle score --video out.mp4 --input clip.mp4      # flicker: the warping error
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import IO, Any

from ..metrics import (
    EDGE_BAND,
    EVAL_POOLING,
    EVAL_SIZE,
    RegionScores,
    Scorer,
    Scores,
    score_regions,
)


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


def format_regions(regions: Sequence[RegionScores]) -> str:
    """Per-region scores of a masked result as a small table (ends in a newline)."""
    lines = [
        "",
        f"{'region':24s} {'area':>6s} {'content':>8s} {'style':>8s} {'edge':>8s}  "
        f"(edge: style distance in the {EDGE_BAND}-px band inside the region's edge over its "
        "interior's, 1 = no bleeding; for the photo, its content distance there, 0 = untouched)",
    ]
    for r in regions:
        edge = r.edge_style if r.edge_content is None else r.edge_content
        name = r.name if len(r.name) <= 24 else "..." + r.name[-21:]
        lines.append(
            f"{name:24s} {r.area:6.1%} {_fmt(r.content):>8s} {_fmt(r.style):>8s} {_fmt(edge):>8s}"
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
    p.add_argument("output", metavar="OUTPUT", nargs="?", help="the image to score")
    p.add_argument(
        "--content",
        metavar="PHOTO",
        help="the content photo (leave out for a texture: only absolute style and colour)",
    )
    p.add_argument(
        "--style",
        metavar="PAINTING",
        action="append",
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
    p.add_argument(
        "--masks",
        metavar="A.png,B.png",
        help="the masks the image was made with, one per --style: adds content and style "
        "distances per region (each against its own painting) and bleeding at the edges",
    )
    g = p.add_argument_group(
        "video (flicker: the warping error of Lai et al. 2018, beside the input's own)"
    )
    g.add_argument("--video", metavar="OUTPUT", help="a stylised video (or folder of frames)")
    g.add_argument("--input", metavar="VIDEO", help="the video it was made from")
    g.add_argument(
        "--start",
        type=float,
        default=0.0,
        help="seconds into the input where the output begins (its --start; default 0)",
    )
    args = p.parse_args(argv)
    if args.video is not None or args.input is not None:
        if args.video is None or args.input is None:
            p.error("--video and --input go together")
        if args.output is not None or args.style or args.content:
            p.error("--video scores a video: leave out OUTPUT, --content and --style")
        return _score_video(args.video, args.input, args.start, args.json, out)
    if args.output is None or not args.style:
        p.error("the following arguments are required: OUTPUT, --style")

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
    regions = None
    if args.masks is not None:
        if args.content is None:
            p.error("--masks needs --content (regions are compared with the photo)")
        regions = score_regions(
            args.output,
            args.content,
            args.style,
            [m.strip() for m in args.masks.split(",") if m.strip()],
            content_layers=layers(args.content_layers),
            style_layers=layers(args.style_layers),
            size=args.size,
        )
    if args.json:
        info = {"output": args.output, "content": args.content, "styles": args.style}
        info.update(scores.to_dict())
        if regions is not None:
            info["regions"] = [r.to_dict() for r in regions]
        out.write(json.dumps(_finite(info), sort_keys=True) + "\n")
    else:
        out.write(format_table(scores, args.output))
        if regions is not None:
            out.write(format_regions(regions))
    return 0


def _score_video(output: str, input_path: str, start: float, as_json: bool, out: IO[str]) -> int:
    """Print the warping error of ``output`` beside its input's own (the floor)."""
    from ..tasks.video import video_warping_error

    scores = video_warping_error(output, input_path, start=start)
    if as_json:
        info = {
            "video": output,
            "input": input_path,
            "warping_error": scores.output,
            "input_warping_error": scores.input,
            "ratio": scores.ratio,
            "pairs": scores.pairs,
            "width": scores.width,
            "height": scores.height,
        }
        out.write(json.dumps(_finite(info), sort_keys=True) + "\n")
        return 0
    floor = "  the input's own (the floor)"
    lines = [
        f"{output} (against {input_path}; {scores.pairs} frame pairs at "
        f"{scores.width}x{scores.height} px, DIS flow of the input)",
        "",
        f"{'metric':32s} {'value':>9s}  meaning",
        f"{'warping error':32s} {scores.output:>9.5f}  "
        "flicker (Lai et al. 2018): 0 = moves exactly like the input",
        f"{floor:32s} {scores.input:>9.5f}  what the input itself scores (occlusions, compression)",
        f"{'  ratio to the floor':32s} {_fmt(scores.ratio, 2):>9s}",
    ]
    out.write("\n".join(lines) + "\n")
    return 0
