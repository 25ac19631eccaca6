"""A per-style feed-forward transformer: Johnson, Alahi and Fei-Fei (ECCV 2016).

"Perceptual Losses for Real-Time Style Transfer and Super-Resolution", with Ulyanov et al.'s
instance normalisation in place of batch normalisation ("Instance Normalization: The Missing
Ingredient for Fast Stylization", 2016) and nearest-neighbour upsampling followed by a
convolution in place of transposed convolutions (no checkerboard artefacts):

* a 9x9 convolution, then two 3x3 convolutions with stride 2 (widths ``c1``, ``c2``, ``c3``);
* ``blocks`` residual blocks of two 3x3 convolutions at width ``c3``;
* two 2x nearest-neighbour upsamplings, each followed by a 3x3 convolution (``c2``, ``c1``);
* a 9x9 convolution to RGB and a sigmoid: the output is in [0, 1].

Every convolution pads by reflection and all but the last are followed by instance
normalisation (with a learnt scale and shift) and a ReLU (none after a residual block's second
convolution). The default widths (16, 32, 64) are a quarter of Johnson et al.'s, small enough
to train on a laptop CPU; the network is convolutional and runs at any size of at least
:data:`MIN_SIDE` pixels (inputs are padded to a multiple of 4 and the output cropped back).

The module holds tensors only: the file format lives in :mod:`restyle.tasks.train`.

Example:
    >>> import torch
    >>> net = TransformerNet(TransformerConfig(widths=(8, 16, 32), blocks=2))
    >>> net(torch.rand(1, 3, 50, 70)).shape
    torch.Size([1, 3, 50, 70])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MIN_SIDE", "TransformerConfig", "TransformerNet"]

#: Smallest height and width the network takes (reflection padding needs a few pixels at the
#: quarter resolution).
MIN_SIDE = 16


@dataclass(frozen=True)
class TransformerConfig:
    """The shape of a :class:`TransformerNet`.

    Attributes:
        widths: Channels of the three downsampling convolutions (the upsampling ones mirror
            them); Johnson et al. use (32, 64, 128).
        blocks: Residual blocks at the lowest resolution (Johnson et al.: 5).
    """

    widths: tuple[int, int, int] = (16, 32, 64)
    blocks: int = 5

    def __post_init__(self) -> None:
        if len(self.widths) != 3 or any(
            not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 1024 for w in self.widths
        ):
            raise ValueError(f"widths must be three whole numbers from 1 to 1024: {self.widths}")
        if not isinstance(self.blocks, int) or isinstance(self.blocks, bool):
            raise ValueError(f"blocks must be a whole number, got {self.blocks!r}")
        if not 0 <= self.blocks <= 32:
            raise ValueError(f"blocks must be from 0 to 32, got {self.blocks}")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON-able values."""
        return {"widths": list(self.widths), "blocks": self.blocks}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: If a value is missing or out of range.
        """
        widths = d.get("widths")
        if not isinstance(widths, list) or len(widths) != 3:
            raise ValueError(f"widths must be a list of three numbers, got {widths!r}")
        return cls(widths=(widths[0], widths[1], widths[2]), blocks=d.get("blocks"))  # type: ignore[arg-type]


class _ConvNorm(nn.Module):
    """Reflection padding, a convolution, then (optionally) instance norm and ReLU."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, *, norm: bool = True,
        relu: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.norm = nn.InstanceNorm2d(cout, affine=True) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.pad(x, (self.pad,) * 4, mode="reflect"))
        if self.norm is not None:
            y = self.norm(y)
        return F.relu(y) if self.relu else y


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = _ConvNorm(channels, channels, 3)
        self.b = _ConvNorm(channels, channels, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.b(self.a(x))
        return x + y


class TransformerNet(nn.Module):
    """Photo in, painted photo out: ``(N, 3, H, W)`` in [0, 1] to the same shape in [0, 1]."""

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config or TransformerConfig()
        c1, c2, c3 = self.config.widths
        self.down = nn.Sequential(
            _ConvNorm(3, c1, 9), _ConvNorm(c1, c2, 3, 2), _ConvNorm(c2, c3, 3, 2)
        )
        self.residual = nn.Sequential(*(_Residual(c3) for _ in range(self.config.blocks)))
        self.up1 = _ConvNorm(c3, c2, 3)
        self.up2 = _ConvNorm(c2, c1, 3)
        self.out = _ConvNorm(c1, 3, 9, norm=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Paint a batch of photos.

        Raises:
            ValueError: If ``x`` is not ``(N, 3, H, W)`` with H, W >= :data:`MIN_SIDE`.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(x.shape)}")
        h, w = x.shape[2], x.shape[3]
        if h < MIN_SIDE or w < MIN_SIDE:
            raise ValueError(f"images must be at least {MIN_SIDE} px on each side, got {w}x{h}")
        ph, pw = -h % 4, -w % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        y = self.residual(self.down(x))
        y = self.up1(F.interpolate(y, scale_factor=2.0, mode="nearest"))
        y = self.up2(F.interpolate(y, scale_factor=2.0, mode="nearest"))
        out: torch.Tensor = torch.sigmoid(self.out(y))
        return out[:, :, :h, :w]
