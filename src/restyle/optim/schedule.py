"""Sizes and step budgets: the output size, the coarse-to-fine scales and their iterations."""

from __future__ import annotations

import math

from ..errors import RestyleError

#: The output is at least this many times larger (in side) than the last coarse scale.
MIN_LAST_STEP = 1.2


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
    """Share ``total`` steps among scales, more where steps are cheap.

    A scale gets steps in proportion to sqrt(final pixels / its pixels): with five scales from
    128 to 512 px the shares are about 36%, 25%, 18%, 13% and 9% of the steps, and the coarse
    scales together cost less than the final one. Each scale gets at least one step.
    """
    if total < len(sizes):
        return [1] * len(sizes)
    final = sizes[-1][0] * sizes[-1][1]
    shares = [math.sqrt(final / (w * h)) for w, h in sizes]
    raw = [total * s / sum(shares) for s in shares]
    steps = [max(1, math.floor(r)) for r in raw]
    # hand out what rounding left, largest remainder first
    order = sorted(range(len(raw)), key=lambda i: raw[i] - math.floor(raw[i]), reverse=True)
    for i in order[: total - sum(steps)]:
        steps[i] += 1
    # remainders can favour a larger scale by one step; scales grow, so sort the counts
    return sorted(steps, reverse=True)


def style_size(style_w: int, style_h: int, out_w: int, out_h: int, scale: float) -> tuple[int, int]:
    """Size of a style image for an output: the output's pixel count times ``scale``^2.

    The style keeps its own aspect ratio, so a tall painting is not squashed into a wide photo.
    """
    pixels = out_w * out_h * scale * scale
    f = math.sqrt(pixels / (style_w * style_h))
    return max(16, round(style_w * f)), max(16, round(style_h * f))
