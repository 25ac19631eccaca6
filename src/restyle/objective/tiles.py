"""Tiles for bounded memory: the image cut into crops whose interior features are exact.

The style loss depends on Gram matrices summed over the whole image, so a tile cannot simply be
optimised on its own; but every statistic the objective's terms use is a sum over positions,
and a tile's features are exact wherever the tile's margin is wider than the network's reach.
:mod:`restyle.objective.evaluate` therefore evaluates any objective tile by tile: pass 1 sums
each term's statistics over the tiles' interiors, pass 2 runs each tile again with gradients.
A :class:`Window` tells a term which part of a whole-image tensor (a content target, a mask)
lies under the features it is given.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ..config import LAYER_NAMES, deepest
from ..net.vgg import VGGFeatures, feature_stride


@dataclass(frozen=True)
class Tile:
    """A tile: its interior ``[y0, y1) x [x0, x1)`` and the crop ``[cy0, cy1) x [cx0, cx1)`` that
    the network sees (the interior plus a margin, clipped to the image)."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int

    @property
    def crop_pixels(self) -> int:
        """Pixels the network sees for this tile."""
        return (self.cy1 - self.cy0) * (self.cx1 - self.cx0)


def margin(layers: Sequence[str]) -> tuple[int, int]:
    """``(align, halo)`` for tiles whose interior features at ``layers`` are exact.

    Tile edges must be multiples of ``align`` (so that every pooling grid of a crop lines up
    with the whole image's), and a crop must reach ``halo`` pixels past its tile's interior: a
    crop edge corrupts one more feature per convolution (its padding is not the image) and
    ``ceil(c / 2)`` of ``c`` corrupted features survive a pooling.
    """
    last = deepest(layers)
    wanted = set(layers)
    corrupt, stride, halo = 0, 1, 0
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        if name.startswith("conv"):
            corrupt += 1
        elif name.startswith("pool"):
            corrupt, stride = math.ceil(corrupt / 2), stride * 2
        if name in wanted:
            halo = max(halo, corrupt * stride)
    align = feature_stride(last)
    return align, math.ceil(halo / align) * align


def plan_tiles(width: int, height: int, max_pixels: int, layers: Sequence[str]) -> list[Tile]:
    """Tiles covering a ``width`` x ``height`` image whose crops have at most about
    ``max_pixels`` pixels each (never fewer tiles than needed; one tile if the image fits)."""
    align, halo = margin(layers)
    if width * height <= max_pixels:
        return [whole_tile(width, height)]
    side = max(align, math.isqrt(max(1, max_pixels)) - 2 * halo)
    side = max(align, side // align * align)

    def cuts(extent: int) -> list[tuple[int, int]]:
        n = max(1, math.ceil(extent / side))
        step = math.ceil(extent / n / align) * align
        edges = [min(extent, i * step) for i in range(n + 1)]
        edges[-1] = extent
        return [(a, b) for a, b in itertools.pairwise(edges) if b > a]

    return [
        Tile(
            y0,
            y1,
            x0,
            x1,
            max(0, y0 - halo),
            min(height, y1 + halo),
            max(0, x0 - halo),
            min(width, x1 + halo),
        )
        for y0, y1 in cuts(height)
        for x0, x1 in cuts(width)
    ]


def _interior(t: Tile, layer: str, feats: torch.Tensor) -> torch.Tensor:
    """The features of ``t``'s interior within the features of its crop."""
    s = feature_stride(layer)
    oy, ox = t.cy0 // s, t.cx0 // s
    return feats[..., t.y0 // s - oy : t.y1 // s - oy, t.x0 // s - ox : t.x1 // s - ox]


class Window:
    """Where the features a term is given lie in the whole image: all of it (the default), or
    the interior of a :class:`Tile`."""

    def crop(self, layer: str, whole: torch.Tensor) -> torch.Tensor:
        """The part of ``whole`` (a tensor shaped like ``layer``'s features of the whole image,
        ``(..., h, w)``) under this window."""
        return whole


#: The window of whole-image evaluations.
WHOLE = Window()


class TileWindow(Window):
    """The interior of one tile."""

    def __init__(self, tile: Tile) -> None:
        self.tile = tile

    def crop(self, layer: str, whole: torch.Tensor) -> torch.Tensor:
        return _window(self.tile, layer, whole)

    def interior(self, layer: str, crop_features: torch.Tensor) -> torch.Tensor:
        """The features of the tile's interior within the features of its (larger) crop."""
        return _interior(self.tile, layer, crop_features)


def _window(t: Tile, layer: str, whole: torch.Tensor) -> torch.Tensor:
    """The part of whole-image features ``whole`` that ``t``'s interior covers."""
    s = feature_stride(layer)
    return whole[..., t.y0 // s : t.y1 // s, t.x0 // s : t.x1 // s]


def whole_tile(width: int, height: int) -> Tile:
    """The whole image as one tile (no margin: nothing is cut)."""
    return Tile(0, height, 0, width, 0, height, 0, width)


def tiles_for(width: int, height: int, budget: int, layers: Sequence[str]) -> list[Tile] | None:
    """The tile plan for an image of ``width`` x ``height`` under a pixel ``budget`` (0: never
    tile), or None when the image goes through the network whole (or no layer is read)."""
    if not budget or width * height <= budget or not layers:
        return None
    return plan_tiles(width, height, budget, layers)


def features_by_tile(
    net: VGGFeatures, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile] | None
) -> Iterator[tuple[TileWindow, dict[str, torch.Tensor]]]:
    """``net``'s features of ``image`` ``(N, 3, H, W)`` at ``layers``, one tile of ``tiles``
    (:func:`tiles_for`'s plan; None: the whole image as one tile) at a time: each tile's window
    and its interior's features per layer. The dict is emptied before the next tile runs, so
    that a tile's features are freed even while the caller still holds it."""
    _, _, h, w = image.shape
    for tile in tiles or [whole_tile(w, h)]:
        window = TileWindow(tile)
        crop = net(image[..., tile.cy0 : tile.cy1, tile.cx0 : tile.cx1], layers)
        parts = {k: window.interior(k, crop[k]) for k in layers}
        del crop
        yield window, parts
        parts.clear()
