"""Sizes and step budgets: the output size, the coarse-to-fine scales and their iterations."""

from __future__ import annotations

import math

from ..errors import RestyleError

#: The output is at least this many times larger (in side) than the last coarse scale.
MIN_LAST_STEP = 1.2
#: Share of a coarse-to-fine run's work (steps times pixels) done at the output size. The
#: coarse scales only settle colours and large shapes; the fine strokes and the photo's detail
#: converge at the output size. Three quarters there (a third of 512 px's 120 steps; the split
#: before gave it 27 of 300 steps, a third of the work) ended the default run with a lower loss
#: (content lower, style slightly higher) in 25% less time (bench/README.md, "The schedule").
FINAL_WORK_SHARE = 0.75


def output_size(
    src_w: int, src_h: int, size: int, width: int | None = None, height: int | None = None
) -> tuple[int, int]:
    """(width, height) of the output for a source of ``src_w`` x ``src_h`` pixels.

    Width and height, when given, win over ``size``; with only one of them the other follows
    the source's aspect ratio; otherwise the longest side becomes ``size``.
    """
    if src_w < 1 or src_h < 1:
        raise RestyleError(f"image has no pixels ({src_w}x{src_h})")
    if width and height:
        return width, height
    if width:
        return width, max(1, round(src_h * width / src_w))
    if height:
        return max(1, round(src_w * height / src_h)), height
    if src_w >= src_h:
        return size, max(1, round(src_h * size / src_w))
    return max(1, round(src_w * size / src_h)), size


def scale_sizes(
    width: int, height: int, min_side: int = 128, multiscale: bool = True
) -> list[tuple[int, int]]:
    """Coarse-to-fine (width, height) sizes ending at the output size.

    The longest side starts at ``min_side`` and grows by sqrt(2) per scale, up to the last
    side that is still at least :data:`MIN_LAST_STEP` (1.2) times smaller than the output's (so
    the last step up is between 1.2 and 1.2 * sqrt(2) = 1.7 times); each scale keeps the
    output's aspect ratio. With ``multiscale`` off, or an output no larger than
    ``min_side * sqrt(2)``, there is one scale.
    """
    longest = max(width, height)
    if not multiscale or longest <= min_side * math.sqrt(2):
        return [(width, height)]
    sizes = []
    side = float(min_side)
    while side * MIN_LAST_STEP <= longest + 1e-9:
        f = side / longest
        sizes.append((max(16, round(width * f)), max(16, round(height * f))))
        side *= math.sqrt(2)
    sizes.append((width, height))
    return sizes


def split_iterations(total: int, sizes: list[tuple[int, int]]) -> list[int]:
    """Share ``total`` steps among scales: :data:`FINAL_WORK_SHARE` of the run's work at the
    output size, the rest over the coarse scales in steps proportional to sqrt(final pixels /
    their pixels), more where steps are cheap.

    A step costs in proportion to its pixels. At the default 120 steps and 512x384 px the scales
    128, 181, 256, 362 and 512 px get 30, 22, 15, 11 and 42 steps (the coarse ones cost as much
    as 14 steps at 512 px); a 4096-px output gets 7 of its 120 steps at 4096 px. Each scale gets
    at least one step, and a larger coarse scale never more than a smaller one.
    """
    if len(sizes) == 1:
        return [total]
    if total < len(sizes):
        return [1] * len(sizes)
    w1, h1 = sizes[-1]
    shares = [math.sqrt(w1 * h1 / (w * h)) for w, h in sizes[:-1]]
    # A coarse step with share s costs 1/s^2 output-size steps; n_i = C s_i / sum(s) coarse steps
    # then cost C * sum(1/s) / sum(s), and the output size takes ratio times that.
    coarse_cost = sum(1 / s for s in shares) / sum(shares)
    ratio = FINAL_WORK_SHARE / (1 - FINAL_WORK_SHARE) * coarse_cost
    final = min(total - len(shares), max(1, round(total * ratio / (1 + ratio))))
    # remainders can favour a larger scale by one step; scales grow, so sort the counts
    return [*sorted(_apportion(total - final, shares), reverse=True), final]


def _apportion(total: int, shares: list[float]) -> list[int]:
    """``total`` (at least ``len(shares)``) split in proportion to ``shares``, each part at
    least 1, what rounding leaves handed out largest remainder first."""
    raw = [total * s / sum(shares) for s in shares]
    parts = [max(1, math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def style_size(style_w: int, style_h: int, out_w: int, out_h: int, scale: float) -> tuple[int, int]:
    """Size of a style image for an output: the output's pixel count times ``scale``^2.

    The style keeps its own aspect ratio, so a tall painting is not squashed into a wide photo.
    """
    pixels = out_w * out_h * scale * scale
    f = math.sqrt(pixels / (style_w * style_h))
    return max(16, round(style_w * f)), max(16, round(style_h * f))
