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

from ..net.vgg import LAYER_NAMES, VGGFeatures, deepest
from .terms import Objective, content_loss, style_layer_loss, tv_loss


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


def feature_stride(layer: str) -> int:
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
    align = feature_stride(last)
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
    s = feature_stride(layer)
    oy, ox = t.cy0 // s, t.cx0 // s
    return feats[..., t.y0 // s - oy : t.y1 // s - oy, t.x0 // s - ox : t.x1 // s - ox]


#: Positions per matrix product when a Gram matrix or its gradient is computed in pieces: the
#: float32 copies of bfloat16 features then take a few MB, not the size of the layer.
ROWS_PER_PRODUCT = 16384


def _rows(f: torch.Tensor) -> torch.Tensor:
    """Features (1, N, h, w) as an (h w, N) matrix: a view of channels-last features (the
    layout the network computes in), a copy otherwise."""
    return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])


def _wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype Grams and their gradients are computed in: float64 stays, others float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _gram_sum(part: torch.Tensor) -> torch.Tensor | None:
    """``F F^T`` (not divided by the positions) of features ``part``; None if it is empty."""
    if part.shape[2] * part.shape[3] == 0:
        return None
    rows = _rows(part)
    n = rows.shape[1]
    acc = torch.zeros((n, n), dtype=_wide(rows.dtype), device=rows.device)
    for a in range(0, rows.shape[0], ROWS_PER_PRODUCT):
        r = rows[a : a + ROWS_PER_PRODUCT].to(acc.dtype)
        acc.addmm_(r.t(), r)
    return acc


def _times_kernel(f: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``K F`` for features ``f`` (1, N, h, w), in ``f``'s dtype and channels-last layout.

    Half-precision features are multiplied in their own precision (the products accumulate in
    float32 inside the matmul): the result is the features' gradient, which autograd takes in
    the features' dtype anyway.
    """
    _, n, h, w = f.shape
    out = torch.empty((1, h, w, n), dtype=f.dtype, device=f.device).permute(0, 3, 1, 2)
    rows, out_rows = _rows(f), out.permute(0, 2, 3, 1).reshape(-1, n)
    k = kernel.to(f.dtype)
    for a in range(0, rows.shape[0], ROWS_PER_PRODUCT):
        torch.mm(rows[a : a + ROWS_PER_PRODUCT], k, out=out_rows[a : a + ROWS_PER_PRODUCT])
    return out


def _window(t: Tile, layer: str, whole: torch.Tensor) -> torch.Tensor:
    """The part of whole-image features ``whole`` that ``t``'s interior covers."""
    s = feature_stride(layer)
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
    :func:`restyle.objective.terms.gram`) at ``gram_layers`` of ``image``, computed tile by tile."""
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
                    s = feature_stride(layer)
                    shape = (1, part.shape[1], h // s, w // s)
                    feats_out[layer] = image.new_empty(shape, dtype=torch.float32)
                _window(t, layer, feats_out[layer]).copy_(part)
            g = _gram_sum(part) if layer in gram_layers else None
            if g is not None:
                sums[layer] = g if layer not in sums else sums[layer] + g
        del feats
    grams = {}
    for layer in gram_layers:
        s = feature_stride(layer)
        grams[layer] = sums[layer] / ((h // s) * (w // s))
    return feats_out, grams


class _Terms:
    """The objective's terms from Gram sums and content errors, and the gradient of the loss
    with respect to any (part of the) features, computed without autograd through the Grams.

    d/dF of ``w / (4 N^2) ||F F^T / M - A||^2`` is ``K F`` with ``K = (D + D^T) / M`` and
    ``D = dL/dG``: one N x N by N x M product per layer in the backward pass, instead of
    autograd's two products, a transpose and a sum, and no float32 copy of the features kept
    for it.
    """

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        targets = objective.targets
        self.style_w = {
            k: objective.style_layer_weights[k]
            for k in targets.style_grams
            if objective.beta and objective.style_layer_weights[k]
        }
        self.content_layers = list(targets.content) if objective.alpha else []
        self.layers = list(dict.fromkeys([*self.content_layers, *self.style_w]))
        self.kernels: dict[str, torch.Tensor] = {}

    def finish(
        self, sums: dict[str, torch.Tensor], positions: dict[str, int], content: torch.Tensor,
        x: torch.Tensor,
    ) -> dict[str, float]:  # fmt: skip
        """The weighted terms from the Gram sums and the (unweighted) content error; keeps
        dL/dG of every style layer for :meth:`grads`."""
        o = self.objective
        style = torch.zeros((), device=x.device, dtype=torch.float64)
        if self.style_w:
            grams = {k: (sums[k] / positions[k]).requires_grad_(True) for k in self.style_w}
            with torch.enable_grad():
                weighted = [
                    self.style_w[k] * style_layer_loss(grams[k], o.targets.style_grams[k])
                    for k in self.style_w
                ]
                style_t = o.beta * torch.stack([w.to(torch.float64) for w in weighted]).sum()
                dgs = torch.autograd.grad(style_t, [grams[k] for k in self.style_w])
            self.kernels = {
                k: (d + d.t()) / positions[k] for k, d in zip(self.style_w, dgs, strict=True)
            }
            style = style_t.detach()
        content_w = o.alpha * content
        tv = o.tv_weight * tv_loss(x.detach()) if o.tv_weight else torch.zeros((), device=x.device)
        values = torch.stack(
            [t.to(torch.float64).reshape(()) for t in (content_w, style, tv)]
        ).tolist()  # one transfer (one device sync on a GPU)
        c, st, t = values
        return {"total": c + st + t, "content": c, "style": st, "tv": t}

    @torch.no_grad()
    def grads(
        self, parts: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], scale: float
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``scale`` times dL/dF for each layer's features ``parts`` (content targets of the
        same region in ``targets``), as (tensors, gradients) for ``torch.autograd.backward``."""
        out_t, out_g = [], []
        for k in self.layers:
            f = parts[k]
            if f.numel() == 0:
                continue
            g: torch.Tensor | None = None
            if k in self.kernels:
                g = _times_kernel(f, self.kernels[k] * scale)
            if k in self.content_layers:
                diff = (f.to(targets[k].dtype) - targets[k]) * (self.objective.alpha * scale)
                g = diff.to(f.dtype) if g is None else g.add_(diff.to(f.dtype))
            if g is not None:
                out_t.append(f)
                out_g.append(g)
        return out_t, out_g

    def tv_backward(self, x: torch.Tensor, scale: float) -> None:
        if self.objective.tv_weight:
            (self.objective.tv_weight * tv_loss(x) * scale).backward()  # type: ignore[no-untyped-call]


def whole_loss(
    net: VGGFeatures, objective: Objective, x: torch.Tensor
) -> tuple[dict[str, float], Callable[[float], None]]:
    """The objective's weighted terms for image ``x`` in one pass through the network, and a
    function that accumulates ``scale`` times the gradient into ``x.grad``.

    The same numbers as ``objective(net(x, objective.layers), x)`` and its backward pass (up to
    floating-point summation order), with the Gram matrices' gradients given to autograd
    directly (see :class:`_Terms`): faster, and without float32 copies of the features.
    """
    terms = _Terms(objective)
    feats = net(x, terms.layers) if terms.layers else {}
    sums: dict[str, torch.Tensor] = {}
    content = torch.zeros((), device=x.device)
    with torch.no_grad():
        for k in terms.style_w:
            g = _gram_sum(feats[k])
            if g is not None:
                sums[k] = g
        for k in terms.content_layers:
            content = content + content_loss(feats[k], objective.targets.content[k])
    positions = {k: feats[k].shape[2] * feats[k].shape[3] for k in terms.style_w}
    values = terms.finish(sums, positions, content, x)

    def backward(scale: float) -> None:
        tensors, grads = terms.grads(feats, objective.targets.content, scale)
        if tensors:
            torch.autograd.backward(tensors, grads)
        terms.tv_backward(x, scale)
        feats.clear()

    return values, backward


def tiled_loss(
    net: VGGFeatures, objective: Objective, x: torch.Tensor, tiles: Sequence[Tile]
) -> tuple[dict[str, float], Callable[[float], None]]:
    """The objective's weighted terms for image ``x``, evaluated tile by tile (pass 1), and a
    function that accumulates ``scale`` times the gradient into ``x.grad`` (pass 2).

    Gives the same numbers as ``objective(net(x, objective.layers), x)`` and its backward pass,
    up to floating-point summation order, with memory bounded by the tiles' size.
    """
    terms = _Terms(objective)
    layers = terms.layers
    _, _, h, w = x.shape
    positions = {k: (h // feature_stride(k)) * (w // feature_stride(k)) for k in terms.style_w}

    # Pass 1: Gram sums and content error over all tiles, without gradients.
    sums: dict[str, torch.Tensor] = {}
    content = torch.zeros((), device=x.device)
    with torch.no_grad():
        for t in tiles:
            if not layers:
                break
            feats = net(x[..., t.cy0 : t.cy1, t.cx0 : t.cx1], layers)
            for k in terms.style_w:
                g = _gram_sum(_interior(t, k, feats[k]))
                if g is not None:
                    sums[k] = g if k not in sums else sums[k] + g
            for k in terms.content_layers:
                content = content + content_loss(
                    _interior(t, k, feats[k]), _window(t, k, objective.targets.content[k])
                )
            del feats
    values = terms.finish(sums, positions, content, x)

    def backward(scale: float) -> None:
        # Pass 2: each tile's share of the gradient.
        for t in tiles:
            if not layers:
                break
            feats = net(x[..., t.cy0 : t.cy1, t.cx0 : t.cx1], layers)
            parts = {k: _interior(t, k, feats[k]) for k in layers}
            windows = {k: _window(t, k, objective.targets.content[k]) for k in terms.content_layers}
            tensors, grads = terms.grads(parts, windows, scale)
            if tensors:
                torch.autograd.backward(tensors, grads)
            del feats, parts, tensors, grads
        terms.tv_backward(x, scale)

    return values, backward
