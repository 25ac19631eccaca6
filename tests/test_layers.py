"""The lean layers give torch's numbers: banded first convolution, 2x2 average pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restyle.net import layers
from restyle.net.layers import avg_pool2x2, banded_conv3x3, conv3x3_relu


def _reference(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, mode: str) -> torch.Tensor:
    return F.conv2d(
        F.pad(x, (1, 1, 1, 1), mode="replicate" if mode == "replicate" else "constant"), w, b
    )


@pytest.mark.parametrize("mode", ["replicate", "zeros"])
@pytest.mark.parametrize("band_bytes", [1, 2048, 8 << 20])  # one row per band ... one band
def test_banded_convolution_matches_the_whole_one(
    mode: str, band_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layers, "BAND_BYTES", band_bytes)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(8, 3, 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(8, generator=gen, dtype=torch.float64)
    x = torch.rand(2, 3, 9, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    out = banded_conv3x3(x, w, b, mode, torch.float64)
    ref = _reference(x, w, b, mode)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0], rtol=1e-12, atol=1e-12
    )
    assert torch.autograd.gradcheck(lambda v: banded_conv3x3(v, w, b, mode, torch.float64), (x,))


def test_banded_convolution_rounds_float32_into_bfloat16(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the network does with conv1_1: float32 inputs and weights, a bfloat16 result.
    monkeypatch.setattr(layers, "BAND_BYTES", 4096)
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(16, 3, 3, 3, generator=gen) * 50  # large, like the folded input convention
    b = torch.randn(16, generator=gen) * 100
    x = torch.rand(1, 3, 24, 40, generator=gen).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    out = banded_conv3x3(x, w, b, "replicate", torch.bfloat16)
    ref = _reference(x, w, b, "replicate")
    assert out.dtype == torch.bfloat16
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref.to(torch.bfloat16), rtol=0, atol=0)
    g = torch.randn(ref.shape, generator=gen).to(torch.bfloat16)
    grad = torch.autograd.grad(out, x, g)[0]
    assert grad.dtype == torch.float32
    torch.testing.assert_close(
        grad, torch.autograd.grad(ref, x, g.float())[0], rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("shape", [(1, 4, 8, 6), (2, 3, 7, 9), (1, 5, 3, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_average_pooling_matches_torch(shape: tuple[int, ...], channels_last: bool) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    out = avg_pool2x2(x)
    ref = F.avg_pool2d(x, 2)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0], rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("keep_output", [False, True])
@pytest.mark.parametrize("band_bytes", [1, 8 << 20])  # the ReLU's mask one row at a time, or whole
@pytest.mark.parametrize("channels_last", [False, True])
def test_convolution_and_relu_match_torch(
    keep_output: bool, band_bytes: int, channels_last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layers, "BAND_BYTES", band_bytes)
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 4, 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    x = torch.randn(2, 4, 7, 9, generator=gen, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    out = conv3x3_relu(x, w, b, keep_output)
    ref = F.relu(F.conv2d(x, w, b, padding=1))
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(
        torch.autograd.grad(out, x, g.clone())[0], torch.autograd.grad(ref, x, g)[0]
    )
    # each output value still flows back through the next layer, as in the network
    assert torch.autograd.gradcheck(lambda v: conv3x3_relu(v, w, b, keep_output) * 1.5, (x,))


@pytest.mark.parametrize("keep_output", [False, True])
def test_convolution_and_relu_keep_a_byte_a_value_not_the_input(keep_output: bool) -> None:
    # What the backward pass holds: the weights and either the output (which the caller keeps
    # anyway: nothing new) or a boolean map, never the input, which torch's convolution keeps.
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    w = torch.randn(16, 8, 3, 3)
    x = torch.randn(1, 8, 20, 30, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = conv3x3_relu(x * 1.0, w, None, keep_output)
    assert not any(t.data_ptr() == x.data_ptr() or t.shape == x.shape for t in saved)
    big = [t for t in saved if t.shape == out.shape]
    assert len(big) == 1
    if keep_output:
        assert big[0].data_ptr() == out.data_ptr()
    else:
        assert big[0].dtype == torch.bool
