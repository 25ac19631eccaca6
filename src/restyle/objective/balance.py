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

from .terms import ContentTerm, GramStyleTerm, style_layer_loss


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


def style_over_content(
    content: ContentTerm, style: GramStyleTerm, photo_grams: Mapping[str, torch.Tensor]
) -> float:
    """How many times the style outweighs the content in an objective: the style term's value
    at the photo itself (Grams ``photo_grams``, as :func:`layer_losses`) over the content
    term's value at an image without features (``alpha |P|^2 / 2``), at one size.

    The coarse scales of a run repaint the photo by this balance: restyle's objective gives
    3-5 at 128 px, pastiche's 550-4900 (bench/README.md, "The schedule"); inf when the content
    term has nothing to weigh.
    """
    empty = sum(0.5 * float(p.double().pow(2).sum()) for p in content.targets.values())
    start = sum(layer_losses(photo_grams, style.targets, style.layer_weights).values())
    denominator = content.weight * empty
    return style.weight * start / denominator if denominator > 0 else float("inf")
