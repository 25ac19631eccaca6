"""The objective of Gatys, Ecker & Bethge (2016) as a weighted sum of terms.

Notation of the paper: a layer with N_l filters has feature maps of M_l positions, F^l is the
N_l x M_l matrix of responses of the generated image, P^l of the photo; G^l and A^l are the Gram
matrices of the generated image and the painting.

* content: L_content = 1/2 sum_ij (F_ij - P_ij)^2                                  (eq. 1)
* style:   E_l = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2,  L_style = sum_l w_l E_l (eq. 4, 5)
* total:   alpha L_content + beta L_style                                            (eq. 7)

Gram matrices are kept divided by M_l (:func:`gram`), so E_l = 1/(4 N_l^2) ||G/M - A/M||^2: the
same number as the paper's when both images have the same size, and still well defined when the
painting has another size than the output.

An objective is a list of terms, each written once: :class:`ContentTerm`, :class:`GramStyleTerm`
and :class:`TVTerm` here, more elsewhere (masked style, temporal). A term that reads the
network's features (:class:`FeatureTerm`) works in three steps, so that one evaluator
(:mod:`restyle.objective.evaluate`) can run any sum of terms over the whole image or tile by
tile, in float32 or in the network's reduced precision:

1. :meth:`~FeatureTerm.measure`: additive statistics of the features of a window (the whole
   image, or a tile's interior), e.g. a sum of squared errors or an ``F F^T`` sum. The
   evaluator adds them up over the windows.
2. :meth:`~FeatureTerm.value`: the weighted term from the summed statistics, keeping what the
   gradient needs (for a Gram term, dL/dG).
3. :meth:`~FeatureTerm.gradient`: ``scale`` times the term's derivative with respect to the
   features of one window, which the evaluator hands to autograd.

A term that reads the pixels (:class:`ImageTerm`: total variation, temporal consistency) gives
its value as a differentiable function of the image, evaluated on the whole image.

Every function here takes batches ``(N, C, H, W)``; a Gram matrix of a batch is ``(N, C, C)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ..errors import RestyleError
from .tiles import Window

#: Positions per matrix product when a Gram matrix or its gradient is computed in pieces: the
#: float32 copies of bfloat16 features then take a few MB, not the size of the layer.
ROWS_PER_PRODUCT = 16384


def _wide(t: torch.Tensor) -> torch.Tensor:
    """Half-precision activations are summed in float32; float32/float64 stay as they are."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _wide_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype Grams and their gradients are computed in: float64 stays, others float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check_features(features: torch.Tensor, what: str) -> None:
    if features.dim() != 4:
        shape = tuple(features.shape)
        raise ValueError(f"{what} expects features of shape (N, C, H, W), got {shape}")


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices divided by the number of positions: ``F F^T / M`` for each image of a
    batch of features ``(N, C, H, W)``, as ``(N, C, C)``.

    Computed in at least float32 whatever the features' precision; differentiable.
    """
    _check_features(features, "gram")
    n, c, h, w = features.shape
    f = _wide(features).reshape(n, c, h * w)
    return (f @ f.transpose(1, 2)) / (h * w)


def _rows(f: torch.Tensor) -> torch.Tensor:
    """Features ``(1, C, h, w)`` as an ``(h w, C)`` matrix: a view of channels-last features
    (the layout the network computes in), a copy otherwise."""
    return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])


@torch.no_grad()
def gram_sum(features: torch.Tensor) -> torch.Tensor | None:
    """``F F^T`` (not divided by the positions) of each image of ``features`` ``(N, C, h, w)``,
    as ``(N, C, C)`` in at least float32, or None if there are no positions.

    Accumulated over blocks of :data:`ROWS_PER_PRODUCT` positions, so half-precision features
    are widened a block at a time, never as a whole copy.
    """
    _check_features(features, "gram_sum")
    n, c, h, w = features.shape
    if h * w == 0:
        return None
    acc = torch.zeros((n, c, c), dtype=_wide_dtype(features.dtype), device=features.device)
    for i in range(n):
        rows = _rows(features[i : i + 1])
        for a in range(0, rows.shape[0], ROWS_PER_PRODUCT):
            r = rows[a : a + ROWS_PER_PRODUCT].to(acc.dtype)
            acc[i].addmm_(r.t(), r)
    return acc


@torch.no_grad()
def times_kernel(features: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``K F`` for each image of ``features`` ``(N, C, h, w)`` and kernels ``(N, C, C)`` (or one
    ``(C, C)`` for all), in the features' dtype and channels-last layout.

    Half-precision features are multiplied in their own precision (the products accumulate in
    float32 inside the matmul): the result is the features' gradient, which autograd takes in
    the features' dtype anyway. ``K`` must be symmetric (a Gram term's ``dL/dG + dL/dG^T``).
    """
    n, c, h, w = features.shape
    out = torch.empty((n, h, w, c), dtype=features.dtype, device=features.device)
    out = out.permute(0, 3, 1, 2)
    k = kernel.to(features.dtype)
    for i in range(n):
        rows, out_rows = _rows(features[i : i + 1]), _rows(out[i : i + 1])
        ki = k if k.dim() == 2 else k[i]
        for a in range(0, rows.shape[0], ROWS_PER_PRODUCT):
            torch.mm(rows[a : a + ROWS_PER_PRODUCT], ki, out=out_rows[a : a + ROWS_PER_PRODUCT])
    return out


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Paper eq. 1: half the summed squared difference of two feature maps (any batch)."""
    if features.shape != target.shape:
        raise ValueError(
            f"content features {tuple(features.shape)} and target "
            f"{tuple(target.shape)} differ in shape"
        )
    return 0.5 * (_wide(features) - _wide(target)).pow(2).sum()


def style_layer_loss(gram_x: torch.Tensor, gram_target: torch.Tensor) -> torch.Tensor:
    """Paper eq. 4 for one layer, with both Grams divided by M (see :func:`gram`), summed over
    a batch; ``gram_target`` may be one ``(C, C)`` (or ``(1, C, C)``) for the whole batch."""
    n = gram_x.shape[-1]
    return (gram_x - gram_target).pow(2).sum() / (4.0 * n * n)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: summed squared differences of neighbouring pixels of ``(N, C, H, W)``."""
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    return dh.pow(2).sum() + dw.pow(2).sum()


def blend_grams(
    grams: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]
) -> dict[str, torch.Tensor]:
    """Weighted mean of several style images' Gram matrices, layer by layer."""
    if len(grams) != len(weights):
        raise RestyleError(f"{len(weights)} blend weights for {len(grams)} style images")
    total = float(sum(weights))
    if total <= 0:
        raise RestyleError("style blend weights must not all be zero")
    return {
        layer: sum(
            (g[layer] * (w / total) for g, w in zip(grams, weights, strict=True)),
            torch.zeros_like(grams[0][layer]),
        )
        for layer in grams[0]
    }


# ----- terms ---------------------------------------------------------------------------------


class FeatureTerm(Protocol):
    """A term of the objective computed from the network's features (see the module's doc)."""

    #: Name under which the evaluator reports the term's value (``content``, ``style`` ...).
    name: str

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers whose features the term reads (none: the term is zero)."""
        ...

    def measure(
        self, features: Mapping[str, torch.Tensor], window: Window
    ) -> dict[str, torch.Tensor]:
        """Additive statistics of the features of one window (no gradient needed)."""
        ...

    def value(
        self, stats: Mapping[str, torch.Tensor], positions: Mapping[str, int]
    ) -> torch.Tensor:
        """The weighted term from statistics summed over all windows; ``positions`` gives each
        layer's positions per image in the whole image. Keeps what :meth:`gradient` needs."""
        ...

    def gradient(
        self, features: Mapping[str, torch.Tensor], window: Window, scale: float
    ) -> dict[str, torch.Tensor]:
        """``scale`` times d(term)/d(features) for one window, by layer, in the features'
        dtype, for those of the term's layers that ``features`` holds: the evaluator may ask
        for one layer at a time. Called after :meth:`value`."""
        ...


class ImageTerm(Protocol):
    """A term of the objective computed from the pixels themselves."""

    name: str

    def image_value(self, image: torch.Tensor) -> torch.Tensor:
        """The weighted term, differentiable with respect to ``image`` ``(N, 3, H, W)``."""
        ...


Term = FeatureTerm | ImageTerm


def is_image_term(term: Term) -> bool:
    """Whether ``term`` reads pixels (an :class:`ImageTerm`) rather than features."""
    return hasattr(term, "image_value")


@dataclass
class ContentTerm:
    """``weight`` x paper eq. 1 summed over the target layers.

    Args:
        targets: the photo's features per layer, whole image, float32.
        weight: alpha (0 turns the term off: it then reads no layer).
    """

    targets: Mapping[str, torch.Tensor]
    weight: float
    name: str = "content"

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.targets) if self.weight else ()

    @torch.no_grad()
    def measure(
        self, features: Mapping[str, torch.Tensor], window: Window
    ) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for k in self.layers:
            sq = content_loss(features[k], window.crop(k, self.targets[k]))
            out["sq"] = sq if "sq" not in out else out["sq"] + sq
        return out

    def value(
        self, stats: Mapping[str, torch.Tensor], positions: Mapping[str, int]
    ) -> torch.Tensor:
        if "sq" not in stats:
            return torch.zeros((), dtype=torch.float64)
        return self.weight * stats["sq"]

    @torch.no_grad()
    def gradient(
        self, features: Mapping[str, torch.Tensor], window: Window, scale: float
    ) -> dict[str, torch.Tensor]:
        out = {}
        for k in self.layers:
            if k not in features:
                continue
            f, t = features[k], window.crop(k, self.targets[k])
            out[k] = ((f.to(t.dtype) - t) * (self.weight * scale)).to(f.dtype)
        return out


@dataclass
class GramStyleTerm:
    """``weight`` x sum_l w_l E_l (paper eq. 4-5) against target Gram matrices.

    The gradient is computed without autograd through the Grams: d/dF of
    ``w / (4 N^2) ||F F^T / M - A||^2`` is ``K F`` with ``K = (D + D^T) / M`` and ``D = dL/dG``,
    one N x N by N x M product per layer, and no float32 copy of the features kept for it.

    Args:
        targets: Gram matrices per layer (as :func:`gram`), ``(C, C)`` or ``(1 or N, C, C)``.
        layer_weights: w_l per layer; layers weighted 0 are not read.
        weight: beta.
    """

    targets: Mapping[str, torch.Tensor]
    layer_weights: Mapping[str, float]
    weight: float
    name: str = "style"
    kernels: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def layers(self) -> tuple[str, ...]:
        if not self.weight:
            return ()
        return tuple(k for k in self.targets if self.layer_weights.get(k, 0.0))

    def measure(
        self, features: Mapping[str, torch.Tensor], window: Window
    ) -> dict[str, torch.Tensor]:
        out = {}
        for k in self.layers:
            g = gram_sum(features[k])
            if g is not None:
                out[k] = g
        return out

    def value(
        self, stats: Mapping[str, torch.Tensor], positions: Mapping[str, int]
    ) -> torch.Tensor:
        layers = self.layers
        if not layers:
            return torch.zeros((), dtype=torch.float64)
        grams = {k: (stats[k] / positions[k]).requires_grad_(True) for k in layers}
        with torch.enable_grad():
            weighted = [
                self.layer_weights[k] * style_layer_loss(grams[k], self.targets[k]) for k in layers
            ]
            total = self.weight * torch.stack([w.to(torch.float64) for w in weighted]).sum()
            dgs = torch.autograd.grad(total, [grams[k] for k in layers])
        self.kernels = {
            k: (d + d.transpose(-1, -2)) / positions[k] for k, d in zip(layers, dgs, strict=True)
        }
        return total.detach()

    def gradient(
        self, features: Mapping[str, torch.Tensor], window: Window, scale: float
    ) -> dict[str, torch.Tensor]:
        return {
            k: times_kernel(features[k], self.kernels[k] * scale)
            for k in self.layers
            if k in features and features[k].numel()
        }


@dataclass
class TVTerm:
    """``weight`` x total variation of the image (smoothing)."""

    weight: float
    name: str = "tv"

    def image_value(self, image: torch.Tensor) -> torch.Tensor:
        if not self.weight:
            return image.new_zeros(())
        return self.weight * tv_loss(image)
