"""Guided Gram matrices: a painting per region of the image (Gatys, Ecker, Bethge, Hertzmann &
Shechtman, "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017, Sec. 4).

For each region ``r`` the mask ``T^r`` is carried to every style layer
(:func:`restyle.objective.masks.propagate`) and normalised so that its mean square over the
layer's ``M_l`` positions is 1 (:func:`normalise`). The guided Gram matrix

    ``G_l^r = (F_l * T_l^r)(F_l * T_l^r)^T / M_l = sum_m t_m^2 f_m f_m^T / sum_m t_m^2``

is then the Gram matrix of the region alone (a weighted mean over its positions), whatever the
region's area, so a region's loss ``E_l^r = 1/(4 N_l^2) ||G_l^r - A_l^r||^2`` does not scale
with its size. ``A_l^r`` is the Gram matrix of the region's painting, or the guided Gram of the
painting through a mask of its own (:func:`guided_grams`). The term is
``beta * sum_r lambda_r sum_l w_l E_l^r``; regions empty at a layer are left out there. Parts
of the image that no region covers get no style: they follow the content term alone.

The gradient is derived by hand, as for :class:`~restyle.objective.terms.GramStyleTerm`:
``dE^r/df_m = t_m^2 K^r f_m`` with ``K^r = (D + D^T) / M`` and ``D = dE^r/dG^r``. Only the
positions where a region's mask is non-zero enter its products (gathered a block at a time), so
regions that do not overlap cost together about what one unguided Gram term costs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from ..net.vgg import VGGFeatures, feature_stride
from .terms import ROWS_PER_PRODUCT, _check_features, _rows, _wide_dtype, style_layer_loss
from .tiles import Tile, TileWindow, Window, features_by_tile, tiles_for

__all__ = [
    "GuidedGramStyleTerm",
    "GuidedRegion",
    "guided_gram_sum",
    "guided_grams",
    "normalise",
]


def normalise(mask: torch.Tensor) -> torch.Tensor | None:
    """``mask`` ``(1, 1, h, w)`` divided by the root of its mean square (so that its mean square
    over the positions is 1), or None when it has no positive value (an empty region)."""
    ms = mask.double().pow(2).mean()
    if not bool(ms > 0):
        return None
    return (mask / ms.sqrt().to(mask.dtype)).contiguous()


@dataclass(frozen=True)
class _Part:
    """A region's mask values on a group's positions: ``t`` (in the Gram's dtype) and ``t^2``
    (in the features'), or, where the mask is constant there (a hard mask), the one value
    ``c`` (``t`` and ``t2`` None), which then scales the products instead of the rows."""

    region: int
    t: torch.Tensor | None
    t2: torch.Tensor | None
    c: float


@dataclass(frozen=True)
class _Group:
    """Positions of one window (``index``; None: all of them) and the regions covering them."""

    index: torch.Tensor | None
    size: int
    parts: tuple[_Part, ...]


def _plan(masks: Mapping[int, torch.Tensor], features: torch.Tensor) -> list[_Group]:
    """The positions of a window in disjoint groups: those that only one region covers (one
    group per region), and those that several cover (one group); uncovered ones are left out.

    ``masks``: the window's part of each region's mask, ``(1, 1, h, w)`` by region number.
    """
    if not masks:
        return []
    for m in masks.values():
        if m.shape[0] != 1 or m.shape[-2:] != features.shape[-2:]:
            raise ValueError(
                f"mask {tuple(m.shape)} does not fit features {tuple(features.shape)} "
                "(one (1, 1, h, w) mask for the batch)"
            )
    wide = _wide_dtype(features.dtype)
    order = list(masks)
    t = torch.stack([masks[r].reshape(-1).to(device=features.device, dtype=wide) for r in order])
    covered = t > 0
    count = covered.sum(0)
    groups: list[_Group] = []

    def group(index: torch.Tensor, members: list[int]) -> None:
        if index.numel() == 0:
            return
        whole = index.numel() == t.shape[1]
        parts = []
        for i in members:
            ti = t[i] if whole else t[i].index_select(0, index)
            lo, hi = torch.aminmax(ti)
            if bool(lo == hi):
                parts.append(_Part(order[i], None, None, float(lo)))
            else:
                parts.append(_Part(order[i], ti, (ti * ti).to(features.dtype), 1.0))
        groups.append(_Group(None if whole else index, int(index.numel()), tuple(parts)))

    for i in range(len(order)):
        group(torch.nonzero(covered[i] & (count == 1)).reshape(-1), [i])
    several = torch.nonzero(count > 1).reshape(-1)
    if several.numel():
        members = [i for i in range(len(order)) if bool(covered[i, several].any())]
        group(several, members)
    return groups


def _gather(rows: torch.Tensor, index: torch.Tensor | None, a: int, b: int) -> torch.Tensor:
    return rows[a:b] if index is None else rows.index_select(0, index[a:b])


def _gram_sums(features: torch.Tensor, groups: Sequence[_Group]) -> dict[int, torch.Tensor]:
    """``sum_m t_m^2 f_m f_m^T`` per image ``(N, C, C)`` for each region in ``groups``."""
    n, c = features.shape[:2]
    wide = _wide_dtype(features.dtype)
    acc: dict[int, torch.Tensor] = {}
    for g in groups:
        for p in g.parts:
            if p.region not in acc:
                acc[p.region] = torch.zeros((n, c, c), dtype=wide, device=features.device)
    for i in range(n):
        rows = _rows(features[i : i + 1])
        for g in groups:
            for a in range(0, g.size, ROWS_PER_PRODUCT):
                b = min(g.size, a + ROWS_PER_PRODUCT)
                block = _gather(rows, g.index, a, b).to(wide)
                for p in g.parts:
                    if p.t is None:
                        acc[p.region][i].addmm_(block.t(), block, alpha=p.c * p.c)
                    else:
                        x = block * p.t[a:b, None]
                        acc[p.region][i].addmm_(x.t(), x)
    return acc


@torch.no_grad()
def guided_gram_sum(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
    """``(F * T)(F * T)^T`` (not divided by the positions) of each image of ``features``
    ``(N, C, h, w)`` with the mask ``T`` ``(1, 1, h, w)``, as ``(N, C, C)`` in at least
    float32; None if the mask has no non-zero position."""
    _check_features(features, "guided_gram_sum")
    return _gram_sums(features, _plan({0: mask}, features)).get(0)


def _times_kernels(
    features: torch.Tensor, kernels: Mapping[int, torch.Tensor], groups: Sequence[_Group]
) -> torch.Tensor:
    """``sum_r (t_m^r)^2 K^r f_m`` at every position (0 where no region is), in the features'
    dtype and channels-last layout."""
    n, c, h, w = features.shape
    covered = sum(g.size for g in groups)
    out = torch.empty((n, h, w, c), dtype=features.dtype, device=features.device)
    if covered < h * w:
        out.zero_()
    out = out.permute(0, 3, 1, 2)
    for i in range(n):
        rows, out_rows = _rows(features[i : i + 1]), _rows(out[i : i + 1])
        for g in groups:
            ks = []
            for p in g.parts:
                if p.region in kernels:
                    k = kernels[p.region]
                    k = k if k.dim() == 2 else k[i]
                    ks.append((p, (k * (p.c * p.c)).to(features.dtype)))
            if not ks:
                if g.index is None:
                    out_rows.zero_()
                else:
                    out_rows.index_fill_(0, g.index, 0)
                continue
            for a in range(0, g.size, ROWS_PER_PRODUCT):
                b = min(g.size, a + ROWS_PER_PRODUCT)
                block = _gather(rows, g.index, a, b)
                acc: torch.Tensor | None = None
                for p, k in ks:
                    part = torch.mm(block, k)
                    if p.t2 is not None:
                        part.mul_(p.t2[a:b, None])
                    acc = part if acc is None else acc.add_(part)
                assert acc is not None
                if g.index is None:
                    out_rows[a:b].copy_(acc)
                else:
                    out_rows.index_copy_(0, g.index[a:b], acc)
    return out


@dataclass
class GuidedRegion:
    """One region of the image and the style it gets.

    Args:
        masks: the region's guidance channel per style layer for the whole image,
            ``(1, 1, h, w)``, normalised (:func:`normalise`); layers missing here (the region
            vanished there) are left out of its loss.
        targets: the Gram matrices (as :func:`restyle.objective.terms.gram`) of the region's
            painting per layer, ``(C, C)`` or ``(1 or N, C, C)``.
        weight: lambda_r, the region's share of the style term.
    """

    masks: Mapping[str, torch.Tensor]
    targets: Mapping[str, torch.Tensor]
    weight: float = 1.0


@dataclass
class GuidedGramStyleTerm:
    """``weight`` x sum_r lambda_r sum_l w_l E_l^r with guided Grams (see the module's doc).

    A :class:`~restyle.objective.terms.FeatureTerm`: exact whole or tiled.

    Args:
        regions: the regions with their masks and targets.
        layer_weights: w_l per layer; layers weighted 0 are not read.
        weight: beta.
    """

    regions: Sequence[GuidedRegion]
    layer_weights: Mapping[str, float]
    weight: float
    name: str = "style"
    kernels: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _plans: dict[Hashable, list[_Group]] = field(default_factory=dict, repr=False)

    def _pairs(self) -> list[tuple[int, str]]:
        """(region, layer) for every guided Gram the term compares."""
        if not self.weight:
            return []
        return [
            (r, k)
            for r, region in enumerate(self.regions)
            if region.weight
            for k in region.masks
            if self.layer_weights.get(k, 0.0) and k in region.targets
        ]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for _, k in self._pairs()))

    def _groups(self, layer: str, features: torch.Tensor, window: Window) -> list[_Group]:
        """The window's positions grouped by the regions that cover them (built once)."""
        tile: Tile | None = window.tile if isinstance(window, TileWindow) else None
        key = (layer, tile, features.dtype, features.device)
        groups = self._plans.get(key)
        if groups is None:
            masks = {
                r: window.crop(layer, self.regions[r].masks[layer])
                for r, k in self._pairs()
                if k == layer
            }
            groups = self._plans[key] = _plan(masks, features)
        return groups

    @torch.no_grad()
    def measure(
        self, features: Mapping[str, torch.Tensor], window: Window
    ) -> dict[str, torch.Tensor]:
        out = {}
        for k in self.layers:
            for r, g in _gram_sums(features[k], self._groups(k, features[k], window)).items():
                out[f"{r}/{k}"] = g
        return out

    def value(
        self, stats: Mapping[str, torch.Tensor], positions: Mapping[str, int]
    ) -> torch.Tensor:
        pairs = [(r, k) for r, k in self._pairs() if f"{r}/{k}" in stats]
        self.kernels = {}
        if not pairs:
            return torch.zeros((), dtype=torch.float64)
        grams = [(stats[f"{r}/{k}"] / positions[k]).requires_grad_(True) for r, k in pairs]
        with torch.enable_grad():
            parts = [
                (self.regions[r].weight * self.layer_weights[k])
                * style_layer_loss(g, self.regions[r].targets[k]).to(torch.float64)
                for (r, k), g in zip(pairs, grams, strict=True)
            ]
            total = self.weight * torch.stack(parts).sum()
            dgs = torch.autograd.grad(total, grams)
        self.kernels = {
            f"{r}/{k}": (d + d.transpose(-1, -2)) / positions[k]
            for (r, k), d in zip(pairs, dgs, strict=True)
        }
        return total.detach()

    @torch.no_grad()
    def gradient(
        self, features: Mapping[str, torch.Tensor], window: Window, scale: float
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for k in self.layers:
            if k not in features:
                continue
            f = features[k]
            groups = self._groups(k, f, window)
            if not groups or not f.numel():
                continue
            kernels = {
                p.region: self.kernels[f"{p.region}/{k}"] * scale
                for g in groups
                for p in g.parts
                if f"{p.region}/{k}" in self.kernels
            }
            out[k] = _times_kernels(f, kernels, groups)
        return out


@torch.no_grad()
def guided_grams(
    net: VGGFeatures,
    image: torch.Tensor,
    masks: Mapping[str, torch.Tensor],
    max_pixels: int = 0,
) -> dict[str, torch.Tensor]:
    """Guided Gram matrices ``(N, C, C)`` (divided by the positions) of ``image``
    ``(N, 3, H, W)`` at each layer of ``masks`` (normalised guidance channels ``(1, 1, h, w)``
    of the image's size), in one pass or tile by tile above ``max_pixels`` (0: never)."""
    layers = list(masks)
    if not layers:
        return {}
    _, _, h, w = image.shape
    sums: dict[str, torch.Tensor] = {}
    tiles = tiles_for(w, h, max_pixels, layers)
    for window, parts in features_by_tile(net, image, layers, tiles):
        for k, part in parts.items():
            g = guided_gram_sum(part, window.crop(k, masks[k]).to(part.device))
            if g is not None:
                sums[k] = g if k not in sums else sums[k] + g
    return {k: g / ((h // feature_stride(k)) * (w // feature_stride(k))) for k, g in sums.items()}
