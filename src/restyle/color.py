"""Colour control from Gatys et al., "Preserving Color in Neural Artistic Style Transfer" (2016).

* luminance-only transfer: style transfer on the luminance channel (YIQ), with the painting's
  luminance matched in mean and spread to the photo's; the result's luminance is then put
  together with the photo's I and Q channels.
* colour histogram matching: the painting's colours are transformed linearly so that their mean
  and covariance equal the photo's, before the transfer.

All functions take and return (1, 3, H, W) float tensors with RGB in [0, 1].
"""

from __future__ import annotations

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
    """The Y channel as a (1, 1, H, W) tensor."""
    return rgb_to_yiq(image)[:, :1]


def grey_rgb(lum: torch.Tensor) -> torch.Tensor:
    """A (1, 1, H, W) luminance repeated into three equal channels (what VGG sees)."""
    return lum.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance shifted and scaled to the content's mean and std, as grey RGB."""
    ls, lc = luminance(style), luminance(content)
    matched = (ls - ls.mean()) * (lc.std() / ls.std().clamp_min(1e-6)) + lc.mean()
    return grey_rgb(matched)


def combine_luminance(lum_rgb: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB image with the luminance of ``lum_rgb`` (its Y) and the I, Q channels of ``content``."""
    yiq = rgb_to_yiq(content)
    y = luminance(lum_rgb)
    return yiq_to_rgb(torch.cat([y, yiq[:, 1:]], dim=1)).clamp(0, 1)


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = image[0].reshape(3, -1).double()
    mu = x.mean(dim=1, keepdim=True)
    d = x - mu
    return mu, d @ d.t() / x.shape[1] + 1e-5 * torch.eye(3, dtype=x.dtype)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    p = -0.5 if inverse else 0.5
    root: torch.Tensor = vecs @ torch.diag(vals.pow(p)) @ vecs.t()
    return root


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Linear colour transfer: the style's colours get the content's mean and covariance.

    Uses the symmetric square-root ("image analogies") transform x' = C_c^1/2 C_s^-1/2 (x - mu_s)
    + mu_c, clamped to [0, 1].
    """
    mu_s, cov_s = _mean_cov(style)
    mu_c, cov_c = _mean_cov(content)
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    x = style[0].reshape(3, -1).double()
    y = a @ (x - mu_s) + mu_c
    return y.reshape(style.shape).to(style.dtype).clamp(0, 1)
