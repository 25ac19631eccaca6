"""The objective of Gatys, Ecker & Bethge (2016), as plain functions plus one weighted sum.

Notation of the paper: a layer with N_l filters has feature maps of M_l positions, F^l is the
N_l x M_l matrix of responses of the generated image, P^l of the photo; G^l and A^l are the Gram
matrices of the generated image and the painting.

* content: L_content = 1/2 sum_ij (F_ij - P_ij)^2                                  (eq. 1)
* style:   E_l = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2,  L_style = sum_l w_l E_l (eq. 4, 5)
* total:   alpha L_content + beta L_style                                            (eq. 7)

Gram matrices are kept divided by M_l (:func:`gram`), so E_l = 1/(4 N_l^2) ||G/M - A/M||^2: the
same number as the paper's when both images have the same size, and still well defined when the
painting has another size than the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import RestyleError


def _wide(t: torch.Tensor) -> torch.Tensor:
    """Half-precision activations are summed in float32; float32/float64 stay as they are."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix divided by the number of positions: ``F F^T / M`` for (1, N, H, W) features.

    Computed in at least float32 whatever the features' precision.
    """
    if features.dim() != 4 or features.shape[0] != 1:
        raise RestyleError(
            f"gram expects features of shape (1, N, H, W), got {tuple(features.shape)}"
        )
    _, n, h, w = features.shape
    f = _wide(features).reshape(n, h * w)
    return (f @ f.t()) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Paper eq. 1: half the summed squared difference of two feature maps."""
    if features.shape != target.shape:
        raise RestyleError(
            f"content features {tuple(features.shape)} and target "
            f"{tuple(target.shape)} differ in shape"
        )
    return 0.5 * (_wide(features) - _wide(target)).pow(2).sum()


def style_layer_loss(gram_x: torch.Tensor, gram_target: torch.Tensor) -> torch.Tensor:
    """Paper eq. 4 for one layer, with both Grams divided by M (see :func:`gram`)."""
    n = gram_x.shape[0]
    return (gram_x - gram_target).pow(2).sum() / (4.0 * n * n)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: summed squared differences of neighbouring pixels (1, C, H, W)."""
    dh = image[..., 1:, :] - image[..., :-1, :]
    dw = image[..., :, 1:] - image[..., :, :-1]
    return dh.pow(2).sum() + dw.pow(2).sum()


@dataclass(frozen=True)
class LossTerms:
    """Weighted terms of one evaluation: ``total = content + style + tv`` (already weighted)."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        """The terms as Python floats (for progress reports)."""
        return {
            "total": float(self.total.detach()),
            "content": float(self.content.detach()),
            "style": float(self.style.detach()),
            "tv": float(self.tv.detach()),
        }


@dataclass
class Targets:
    """What the generated image is compared with: content features and (blended) style Grams."""

    content: dict[str, torch.Tensor]
    style_grams: dict[str, torch.Tensor]


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


class Objective:
    """alpha * L_content + beta * sum_l w_l E_l + tv_weight * TV, evaluated from features.

    Args:
        targets: content features and style Grams to match.
        alpha: content weight (0 for texture synthesis).
        beta: style weight.
        style_layer_weights: w_l per style layer (same order as ``targets.style_grams``).
        tv_weight: weight of the total-variation term.
    """

    def __init__(
        self,
        targets: Targets,
        alpha: float,
        beta: float,
        style_layer_weights: Mapping[str, float],
        tv_weight: float = 0.0,
    ):
        self.targets = targets
        self.alpha = alpha
        self.beta = beta
        self.style_layer_weights = dict(style_layer_weights)
        self.tv_weight = tv_weight

    @property
    def layers(self) -> list[str]:
        """Every layer the objective reads."""
        return list(dict.fromkeys([*self.targets.content, *self.targets.style_grams]))

    def __call__(self, features: Mapping[str, torch.Tensor], image: torch.Tensor) -> LossTerms:
        """The weighted loss terms for ``features`` of ``image``."""
        zero = image.new_zeros(())
        content = zero
        if self.alpha:
            for layer, target in self.targets.content.items():
                content = content + content_loss(features[layer], target)
            content = self.alpha * content
        style = zero
        if self.beta:
            for layer, target in self.targets.style_grams.items():
                w = self.style_layer_weights[layer]
                if w:
                    style = style + w * style_layer_loss(gram(features[layer]), target)
            style = self.beta * style
        tv = self.tv_weight * tv_loss(image) if self.tv_weight else zero
        return LossTerms(content + style + tv, content, style, tv)
