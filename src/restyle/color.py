"""Colour control from Gatys et al., "Preserving Color in Neural Artistic Style Transfer" (2016).

* luminance-only transfer: style transfer on the luminance channel (YIQ), with the painting's
  luminance matched in mean and spread to the photo's; the result's luminance is then put
  together with the photo's I and Q channels.
* colour histogram matching: the painting's colours are transformed linearly so that their mean
  and covariance equal the photo's, before the transfer.
* the reverse, for the start image (``init="palette"``): the photo's colours moved to the
  paintings' mean and covariance, the layout kept.

All functions take and return batches (N, 3, H, W) of float tensors with RGB in [0, 1], each
image on its own; where a function takes a style and a content batch, the content batch has N
images or one for all.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# RGB -> YIQ (NTSC), as in the paper.
_RGB2YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """RGB -> YIQ, channel-wise linear map."""
    return _apply(_RGB2YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """YIQ -> RGB, inverse of :func:`rgb_to_yiq`."""
    return _apply(_YIQ2RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel as an (N, 1, H, W) tensor."""
    return rgb_to_yiq(image)[:, :1]


def grey_rgb(lum: torch.Tensor) -> torch.Tensor:
    """An (N, 1, H, W) luminance repeated into three equal channels (what VGG sees)."""
    return lum.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance shifted and scaled to the content's mean and std, as grey RGB."""
    ls, lc = luminance(style), luminance(content)
    dims = (1, 2, 3)
    mean_s, std_s = ls.mean(dim=dims, keepdim=True), ls.std(dim=dims, keepdim=True)
    mean_c, std_c = lc.mean(dim=dims, keepdim=True), lc.std(dim=dims, keepdim=True)
    matched = (ls - mean_s) * (std_c / std_s.clamp_min(1e-6)) + mean_c
    return grey_rgb(matched)


def combine_luminance(lum_rgb: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB image with the luminance of ``lum_rgb`` (its Y) and the I, Q channels of ``content``."""
    yiq = rgb_to_yiq(content)
    y = luminance(lum_rgb)
    return yiq_to_rgb(torch.cat([y, yiq[:, 1:]], dim=1)).clamp(0, 1)


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image of (N, 3, H, W): the colour mean (N, 3, 1) and covariance (N, 3, 3)."""
    x = image.reshape(image.shape[0], 3, -1).double()
    mu = x.mean(dim=2, keepdim=True)
    d = x - mu
    eye = torch.eye(3, dtype=x.dtype, device=x.device)
    return mu, d @ d.transpose(1, 2) / x.shape[2] + 1e-5 * eye


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    p = -0.5 if inverse else 0.5
    root: torch.Tensor = vecs @ torch.diag_embed(vals.pow(p)) @ vecs.transpose(-1, -2)
    return root


def _transfer(
    image: torch.Tensor,
    stats: tuple[torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """``image`` whose colours have ``stats`` (mean, covariance) moved to ``target``'s by the
    symmetric square-root transform x' = C_t^1/2 C_s^-1/2 (x - mu_s) + mu_t, clamped to [0, 1]."""
    (mu_s, cov_s), (mu_t, cov_t) = stats, target
    a = _sqrtm(cov_t) @ _sqrtm(cov_s, inverse=True)
    x = image.reshape(image.shape[0], 3, -1).double()
    y = a @ (x - mu_s) + mu_t
    return y.reshape(image.shape).to(image.dtype).clamp(0, 1)


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Linear colour transfer: the style's colours get the content's mean and covariance.

    Uses the symmetric square-root ("image analogies") transform x' = C_c^1/2 C_s^-1/2 (x - mu_s)
    + mu_c, clamped to [0, 1].
    """
    return _transfer(style, _mean_cov(style), _mean_cov(content))


def match_palette(
    image: torch.Tensor, paintings: Sequence[torch.Tensor], weights: Sequence[float]
) -> torch.Tensor:
    """``image`` (1, 3, H, W) recoloured with the paintings' colours: the mean and covariance
    of all their pixels together, each painting counting by its weight (a mixture), reached by
    the same linear transform as :func:`match_histogram`. The layout stays the image's."""
    if len(paintings) != len(weights) or not paintings or sum(weights) <= 0:
        raise ValueError("match_palette needs paintings and weights of the same length, sum > 0")
    total = float(sum(weights))
    mu = torch.zeros(1, 3, 1, dtype=torch.float64, device=image.device)
    second = torch.zeros(1, 3, 3, dtype=torch.float64, device=image.device)
    for painting, w in zip(paintings, weights, strict=True):
        m, c = _mean_cov(painting)
        mu = mu + w / total * m
        second = second + w / total * (c + m @ m.transpose(1, 2))
    return _transfer(image, _mean_cov(image), (mu, second - mu @ mu.transpose(1, 2)))
