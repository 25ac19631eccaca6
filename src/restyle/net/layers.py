"""Two layers of the network done leaner than torch's own, with the same numbers.

* :func:`banded_conv3x3`: the first convolution in float32, band by band, with its output in
  the network's precision. conv1_1 computes in float32 (see
  :meth:`restyle.net.vgg.VGGFeatures.set_precision`) while the rest of the network runs in
  bfloat16 or float16. Done in one piece, that makes a float32 activation of 64 channels at
  full resolution (64 MB at 500 x 500 pixels) only to round it, and the same again for its
  gradient in the backward pass: the largest tensors of a step, allocated afresh (and
  page-faulted in) every step. Here the convolution runs over bands of rows whose float32
  output fits in :data:`BAND_BYTES`, each band rounded straight into the half-precision output;
  the backward pass does the same for the input's gradient. Each output pixel sees exactly the
  same inputs and weights as in the whole convolution.
* :func:`avg_pool2x2`: 2x2 average pooling whose backward pass, for even sizes, is one
  nearest-neighbour upsampling of the gradient times 1/4, instead of torch's zero-fill and
  scatter (about 4x faster on the 64-channel full-resolution layer).
* :func:`conv3x3_relu`: a zero-padded convolution and its ReLU that keep for the backward pass
  only what the input's gradient needs. Torch's convolution keeps its input (for a weight
  gradient a frozen network never asks for) and its ReLU the output; here the pair keeps the
  ReLU's output only where the caller keeps it anyway (a feature a term reads) and otherwise
  one byte a value saying where it was positive. In float32 that is a quarter of the memory of
  the layers no term reads, and the pooled maps are not kept at all.

Measured effect: a step at 512 x 384 pixels went from 0.87-0.88 to 0.80-0.85 s on the 2-core
CPU of bench/step.py, and the largest per-step allocations are gone (see bench/README.md).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

#: Largest band (of the output or the gradient, in the input's dtype) computed at once.
BAND_BYTES = 8 << 20


def _bands(height: int, row_bytes: int) -> list[tuple[int, int]]:
    """Row ranges ``[y0, y1)`` covering ``height`` output rows, each within BAND_BYTES."""
    rows = max(1, BAND_BYTES // max(row_bytes, 1))
    return [(y0, min(height, y0 + rows)) for y0 in range(0, height, rows)]


class _BandedConv(torch.autograd.Function):
    """3x3 convolution without padding of an already padded float32 input, band by band."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, padded: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
        out_dtype: torch.dtype,
    ) -> torch.Tensor:  # fmt: skip
        n, _, hp, wp = padded.shape
        h, w, c = hp - 2, wp - 2, weight.shape[0]
        # Channels-last output: a band of rows is one contiguous block of it.
        out = torch.empty(
            (n, c, h, w), dtype=out_dtype, device=padded.device, memory_format=torch.channels_last
        )
        ctx.bands = _bands(h, n * w * c * padded.element_size())
        for y0, y1 in ctx.bands:
            out[:, :, y0:y1].copy_(F.conv2d(padded[:, :, y0 : y1 + 2], weight, bias))
        ctx.save_for_backward(weight)
        ctx.padded_shape = padded.shape
        ctx.padded_dtype = padded.dtype
        ctx.padded_format = layout_of(padded)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        grad_in = torch.empty(
            ctx.padded_shape, dtype=ctx.padded_dtype, device=grad.device,
            memory_format=ctx.padded_format,
        ).zero_()  # fmt: skip
        for y0, y1 in ctx.bands:
            g = grad[:, :, y0:y1].to(ctx.padded_dtype)
            # the input gradient of an unpadded stride-1 convolution
            grad_in[:, :, y0 : y1 + 2] += F.conv_transpose2d(g, weight)
        return grad_in, None, None, None


def banded_conv3x3(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding_mode: str,
    out_dtype: torch.dtype,
) -> torch.Tensor:  # fmt: skip
    """``conv2d(x, weight, bias, padding=1)`` (``padding_mode`` "replicate" or "zeros") in
    ``x``'s dtype, returned in ``out_dtype`` and channels-last layout, computed band by band."""
    mode = "replicate" if padding_mode == "replicate" else "constant"
    padded = F.pad(x, (1, 1, 1, 1), mode=mode)
    out: torch.Tensor = _BandedConv.apply(padded, weight, bias, out_dtype)  # type: ignore[no-untyped-call]
    return out


class _AvgPool2x2(torch.autograd.Function):
    """``F.avg_pool2d(x, 2)`` of an even-sized ``x``, with a one-pass backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return F.avg_pool2d(x, 2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return F.interpolate(grad, scale_factor=2.0, mode="nearest").mul_(0.25)


class _Conv3x3ReLU(torch.autograd.Function):
    """``relu(conv2d(x, weight, bias, padding=1))`` keeping only where its output is zero (or
    the output itself, with ``keep_output``) for the backward pass, which returns the gradient
    of ``x`` only: the weights are frozen."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
        keep_output: bool,
    ) -> torch.Tensor:  # fmt: skip
        out = F.conv2d(x, weight, bias, padding=1).relu_()
        # After the ReLU "positive" is "non-zero": ``bool()`` makes that map about five times
        # faster than a comparison (a NaN, positive for neither, passes its gradient either way).
        ctx.save_for_backward(weight, out if keep_output else out.bool())
        ctx.keep_output = keep_output
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        weight, saved = ctx.saved_tensors
        if ctx.keep_output:
            g = torch.ops.aten.threshold_backward(grad, saved, 0)
        else:
            # An output nobody keeps gets its gradient only from the next layer's backward
            # pass, a fresh tensor: masked in place, without a second full-size copy.
            g = _zero_where_not(grad, saved)
        return F.conv_transpose2d(g, weight, padding=1), None, None, None


def _zero_where_not(grad: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """``grad`` with zeros where the boolean map ``positive`` is False, in place.

    A product with the map read as bytes (0 or 1), band by band: torch makes the bytes a
    temporary of ``grad``'s dtype first, which a band keeps small. Measured at 64 x 384 x 512
    (bench/README.md): 2-3 ms against 23-29 ms for ``masked_fill_``, in bfloat16 and float32.
    """
    n, c, h, w = grad.shape
    flags = positive.view(torch.uint8)
    for y0, y1 in _bands(h, n * c * w * grad.element_size()):
        grad[:, :, y0:y1].mul_(flags[:, :, y0:y1])
    return grad


def conv3x3_relu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, keep_output: bool
) -> torch.Tensor:
    """``relu(conv2d(x, weight, bias, padding=1))`` with frozen ``weight`` and ``bias``; when
    ``x`` needs a gradient, the backward pass keeps the output (``keep_output``: the caller
    holds it anyway) or a boolean map of where it is positive, never ``x``."""
    if not x.requires_grad:
        return F.conv2d(x, weight, bias, padding=1).relu_()
    out: torch.Tensor = _Conv3x3ReLU.apply(x, weight, bias, keep_output)  # type: ignore[no-untyped-call]
    return out


def layout_of(t: torch.Tensor) -> torch.memory_format:
    """channels_last if ``t`` is laid out so (and not also plainly contiguous), else plain."""
    if t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def avg_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 2)``, with a faster backward pass when ``x`` needs a gradient and its
    height and width are even (with an odd one, torch's own: building the gradient around the
    unpooled last row or column cost as much as torch's backward)."""
    if not x.requires_grad or x.shape[2] % 2 or x.shape[3] % 2:
        return F.avg_pool2d(x, 2)
    out: torch.Tensor = _AvgPool2x2.apply(x)  # type: ignore[no-untyped-call]
    return out
