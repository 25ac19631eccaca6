"""The temporal term of video style transfer (Ruder, Dosovitskiy & Brox, GCPR 2016, eq. 4).

A later frame of a stylised video is tied to the previous frame's result, warped into it by the
optical flow of the input frames, wherever the flow can be trusted:

    L_temporal(x, w, c) = weight * 1/D * sum_k c_k (x_k - w_k)^2

with ``x`` the image being optimised, ``w`` the warped previous result, ``c`` the per-pixel
reliability in [0, 1] (0 where the pixel was hidden in the previous frame, on motion boundaries
and where the flow leaves the frame; see :func:`restyle.media.flow.reliability`), the sum over
pixels and colour channels, and ``D = pixels x channels`` (so the term is a weighted mean, and
its size does not depend on the image's). Pixels are in [0, 1].

:class:`TemporalTerm` is an :class:`~restyle.objective.terms.ImageTerm`: the evaluator takes its
value and gradient with autograd on the whole image, on the plain and the tiled path alike.
:meth:`TemporalTerm.at` gives the term at another size (target resized bilinearly with
antialiasing, mask by area averaging), for runs with several scales.

Example:
    >>> import torch
    >>> x = torch.zeros(1, 3, 2, 2)
    >>> term = TemporalTerm(torch.ones(1, 3, 2, 2), torch.ones(1, 1, 2, 2), weight=2.0)
    >>> float(term.image_value(x))  # 2 * mean of 1s
    2.0
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def temporal_loss(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``1/D sum c (x - w)^2`` for a batch, with ``D`` the elements of one image (C x H x W).

    Args:
        image: ``x``, ``(N, C, H, W)``.
        target: ``w``, ``(N or 1, C, H, W)``.
        mask: ``c``, ``(N or 1, 1, H, W)`` (or with C channels): weights in [0, 1].

    Returns:
        A scalar in ``image``'s dtype, summed over the batch (target and mask are moved to
        ``image``'s device and dtype).

    Raises:
        ValueError: If the shapes do not fit together.
    """
    if image.dim() != 4 or target.dim() != 4 or mask.dim() != 4:
        raise ValueError(
            f"temporal term expects (N, C, H, W) tensors, got {tuple(image.shape)}, "
            f"{tuple(target.shape)} and {tuple(mask.shape)}"
        )
    if target.shape[1:] != image.shape[1:] or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"temporal target {tuple(target.shape)} and mask {tuple(mask.shape)} do not fit "
            f"an image of {tuple(image.shape)}"
        )
    d = image.shape[1] * image.shape[2] * image.shape[3]
    diff = image - target.to(image)
    return (mask.to(image) * diff * diff).sum() / d


@dataclass
class TemporalTerm:
    """``weight`` x :func:`temporal_loss` against a warped previous result.

    Args:
        target: the previous frame's result warped into this frame, ``(1, 3, H, W)`` in [0, 1].
        mask: the reliability ``c`` of the warp, ``(1, 1, H, W)`` in [0, 1].
        weight: the term's weight (0 turns it off).
    """

    target: torch.Tensor
    mask: torch.Tensor
    weight: float
    name: str = "temporal"

    def __post_init__(self) -> None:
        if self.target.dim() != 4 or self.mask.dim() != 4:
            raise ValueError("temporal target and mask must be (N, C, H, W) tensors")
        if self.mask.shape[-2:] != self.target.shape[-2:]:
            raise ValueError(
                f"temporal mask {tuple(self.mask.shape)} and target "
                f"{tuple(self.target.shape)} differ in size"
            )

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the target."""
        return int(self.target.shape[-1]), int(self.target.shape[-2])

    def at(self, width: int, height: int) -> TemporalTerm:
        """The same term for an image of ``width`` x ``height`` (itself if it already fits).

        The target is resized bilinearly with antialiasing; the mask by area averaging when
        it shrinks (an unreliable pixel lowers the weight of the coarse pixel it falls in),
        bilinearly when it grows.
        """
        if self.size == (width, height):
            return self
        size = (height, width)
        target = F.interpolate(
            self.target, size=size, mode="bilinear", align_corners=False, antialias=True
        ).clamp(0, 1)
        shrink = width <= self.size[0] and height <= self.size[1]
        if shrink:
            mask = F.interpolate(self.mask, size=size, mode="area")
        else:
            mask = F.interpolate(self.mask, size=size, mode="bilinear", align_corners=False)
        return TemporalTerm(target, mask.clamp(0, 1), self.weight, self.name)

    def image_value(self, image: torch.Tensor) -> torch.Tensor:
        """The weighted term for ``image`` ``(N, 3, H, W)``, differentiable."""
        if not self.weight:
            return image.new_zeros(())
        return self.weight * temporal_loss(image, self.target, self.mask)
