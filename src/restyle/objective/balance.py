"""Evening out paintings: each style layer weighted by how far the photo starts from the
painting at that layer.

At the paper's equal layer weights the style loss of a photo against a painting, ``E0 = sum_l
w_l E0_l``, is almost all relu1_1 (colour statistics) for every pair of ``../shared/images``
(256 px: 60-69 of Turner's 61-70 is relu1_1, and the deeper layers, the strokes, add 0.6-1.4),
and how large it is depends on the painting far more than on the photo. A painting whose textures
the photo already nearly has (Turner's Shipwreck) then spends its style term on colour and
hardly changes the photo, and one far from it in colour and texture (The Starry Night)
transforms it. :func:`balanced_layer_weights` rescales each layer by
``(R_l / E0_l) ** power``, ``R_l`` the typical start of that layer
(:data:`restyle.config.STYLE_LAYER_REFERENCE`), so each painting's layers pull as hard, relative
to their own starting gap, as a typical pair's do; ``power`` 0 keeps the paper's weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .terms import style_layer_loss


def layer_losses(
    photo_grams: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> dict[str, float]:
    """``w_l E0_l`` per weighted layer: the photo's own style loss against the targets, the
    mean over a batch of photos (Grams ``(N, C, C)``)."""
    out = {}
    for k, w in layer_weights.items():
        if w and k in photo_grams and k in targets:
            g = photo_grams[k]
            n = g.shape[0] if g.dim() == 3 else 1
            out[k] = w * float(style_layer_loss(g.double(), targets[k].double())) / n
    return out


def balanced_layer_weights(
    layer_weights: Mapping[str, float],
    start: Mapping[str, float],
    reference: Mapping[str, float],
    power: float,
) -> dict[str, float]:
    """``w_l * (R_l / E0_l) ** power`` for each layer with a reference and a non-zero start
    (``start`` as :func:`layer_losses`); other layers keep ``w_l``."""
    out = dict(layer_weights)
    if not power:
        return out
    for k, e0 in start.items():
        r = reference.get(k)
        if r and e0 > 0:
            out[k] = layer_weights[k] * (r / e0) ** power
    return out
