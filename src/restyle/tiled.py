"""Bounded memory for large images: the objective, its gradient and the targets, tile by tile.

The style loss depends on Gram matrices summed over the whole image, so a tile cannot simply be
optimised on its own; but the Gram matrix is a sum over positions, and a tile's features are
exact wherever the tile's margin is wider than the network's reach. Two passes therefore give
the exact loss and image gradient with memory that depends on the tile size only:

1. Without gradients, each tile (cropped with a margin, so that the features of its interior
   equal the whole image's) adds ``F F^T`` of its interior features to its layer's Gram sum,
   and its squared error to the content sum. The loss, and dL/dG for every style layer, follow
   from the summed Grams.
2. Each tile is run again with gradients, and the backward pass of
   ``sum_l <K_l F_t, F_t> / M_l`` (``K_l = dL/dG_l + dL/dG_l^T`` held constant) plus the tile's
   content term adds the tile's share of the image gradient: the gradient of the Gram term with
   respect to the tile's features is ``K_l F_t / M_l``, exactly as in the whole-image backward.

A step costs about 1.5 times a whole-image step (one more forward pass) plus the margins.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .features import LAYER_NAMES, VGGFeatures, deepest
from .losses import Objective, content_loss, gram, style_layer_loss, tv_loss


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


def _stride(layer: str) -> int:
    """Pixels per feature at ``layer``'s output (2 to the number of poolings up to it)."""
    upto = LAYER_NAMES[: LAYER_NAMES.index(layer) + 1]
    return 1 << sum(1 for n in upto if n.startswith("pool"))


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
    align = _stride(last)
    return align, math.ceil(halo / align) * align


def plan_tiles(width: int, height: int, max_pixels: int, layers: Sequence[str]) -> list[Tile]:
    """Tiles covering a ``width`` x ``height`` image whose crops have at most about
    ``max_pixels`` pixels each (never fewer tiles than needed; one tile if the image fits)."""
    align, halo = margin(layers)
    if width * height <= max_pixels:
        return [Tile(0, height, 0, width, 0, height, 0, width)]
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
    s = _stride(layer)
    oy, ox = t.cy0 // s, t.cx0 // s
    return feats[..., t.y0 // s - oy : t.y1 // s - oy, t.x0 // s - ox : t.x1 // s - ox]


def _gram_sum(part: torch.Tensor) -> torch.Tensor | None:
    """``F F^T`` (not divided by the positions) of features ``part``; None if it is empty."""
    m = part.shape[2] * part.shape[3]
    return gram(part) * m if m else None


def _window(t: Tile, layer: str, whole: torch.Tensor) -> torch.Tensor:
    """The part of whole-image features ``whole`` that ``t``'s interior covers."""
    s = _stride(layer)
    return whole[..., t.y0 // s : t.y1 // s, t.x0 // s : t.x1 // s]


@torch.no_grad()
def tiled_targets(
    net: VGGFeatures,
    image: torch.Tensor,
    feature_layers: Sequence[str],
    gram_layers: Sequence[str],
    max_pixels: int,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Whole-image features at ``feature_layers`` (float32) and Gram matrices (as
    :func:`restyle.losses.gram`) at ``gram_layers`` of ``image``, computed tile by tile."""
    layers = list(dict.fromkeys([*feature_layers, *gram_layers]))
    _, _, h, w = image.shape
    tiles = plan_tiles(w, h, max_pixels, layers)
    feats_out: dict[str, torch.Tensor] = {}
    sums: dict[str, torch.Tensor] = {}
    for t in tiles:
        feats = net(image[..., t.cy0 : t.cy1, t.cx0 : t.cx1], layers)
        for layer in layers:
            part = _interior(t, layer, feats[layer])
            if layer in feature_layers:
                if layer not in feats_out:
                    s = _stride(layer)
                    shape = (1, part.shape[1], h // s, w // s)
                    feats_out[layer] = image.new_empty(shape, dtype=torch.float32)
                _window(t, layer, feats_out[layer]).copy_(part)
            g = _gram_sum(part) if layer in gram_layers else None
            if g is not None:
                sums[layer] = g if layer not in sums else sums[layer] + g
        del feats
    grams = {}
    for layer in gram_layers:
        s = _stride(layer)
        grams[layer] = sums[layer] / ((h // s) * (w // s))
    return feats_out, grams


def tiled_loss(
    net: VGGFeatures, objective: Objective, x: torch.Tensor, tiles: Sequence[Tile]
) -> tuple[dict[str, float], Callable[[float], None]]:
    """The objective's weighted terms for image ``x``, evaluated tile by tile (pass 1), and a
    function that accumulates ``scale`` times the gradient into ``x.grad`` (pass 2).

    Gives the same numbers as ``objective(net(x, objective.layers), x)`` and its backward pass,
    up to floating-point summation order, with memory bounded by the tiles' size.
    """
    targets = objective.targets
    style_w = {
        k: objective.style_layer_weights[k]
        for k in targets.style_grams
        if objective.beta and objective.style_layer_weights[k]
    }
    content_layers = list(targets.content) if objective.alpha else []
    layers = list(dict.fromkeys([*content_layers, *style_w]))
    _, _, h, w = x.shape
    positions = {k: (h // _stride(k)) * (w // _stride(k)) for k in style_w}

    # Pass 1: Gram sums and content error over all tiles, without gradients.
    sums: dict[str, torch.Tensor] = {}
    content = torch.zeros((), device=x.device)
    with torch.no_grad():
        for t in tiles:
            feats = net(x[..., t.cy0 : t.cy1, t.cx0 : t.cx1], layers) if layers else {}
            for k in style_w:
                g = _gram_sum(_interior(t, k, feats[k]))
                if g is not None:
                    sums[k] = g if k not in sums else sums[k] + g
            for k in content_layers:
                content = content + content_loss(
                    _interior(t, k, feats[k]), _window(t, k, targets.content[k])
                )
            del feats
    content = objective.alpha * content

    # The style term from the summed Grams, and dL/dG for every layer.
    style = torch.zeros((), device=x.device)
    kernels: dict[str, torch.Tensor] = {}
    if style_w:
        grams = {k: (sums[k] / positions[k]).requires_grad_(True) for k in style_w}
        with torch.enable_grad():
            style = objective.beta * sum(
                (style_w[k] * style_layer_loss(grams[k], targets.style_grams[k]) for k in style_w),
                torch.zeros((), device=x.device),
            )
            dgs = torch.autograd.grad(style, [grams[k] for k in style_w])
        kernels = {k: (d + d.t()) / positions[k] for k, d in zip(style_w, dgs, strict=True)}
        style = style.detach()
    tv = objective.tv_weight * tv_loss(x.detach()) if objective.tv_weight else content * 0
    total = content + style + tv
    terms = {
        "total": float(total),
        "content": float(content),
        "style": float(style),
        "tv": float(tv),
    }

    def backward(scale: float) -> None:
        # Pass 2: each tile's share of the gradient.
        for t in tiles:
            if not layers:
                break
            crop = x[..., t.cy0 : t.cy1, t.cx0 : t.cx1]
            feats = net(crop, layers)
            part_loss = torch.zeros((), device=x.device)
            for k, kern in kernels.items():
                f = _interior(t, k, feats[k])
                f2 = f.reshape(f.shape[1], -1).to(kern.dtype)
                part_loss = part_loss + (f2 * (kern @ f2.detach())).sum()
            for k in content_layers:
                part_loss = part_loss + objective.alpha * content_loss(
                    _interior(t, k, feats[k]), _window(t, k, targets.content[k])
                )
            (part_loss * scale).backward()  # type: ignore[no-untyped-call]
            del feats, part_loss
        if objective.tv_weight:
            (objective.tv_weight * tv_loss(x) * scale).backward()  # type: ignore[no-untyped-call]

    return terms, backward
