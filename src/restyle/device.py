"""Choosing the device, the network's precision and memory layout, and backend settings."""

from __future__ import annotations

import functools

import torch

from .errors import RestyleError


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; other names are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise RestyleError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RestyleError(f"device {name!r} asked for, but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise RestyleError("device 'mps' asked for, but Apple MPS is not available here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise RestyleError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return dev


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX-BF16).

    Without it oneDNN emulates bfloat16, which is slower than float32, so ``"auto"`` precision
    keeps float32 there.
    """
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # pragma: no cover - a build without the probe's backend
            continue
    return False


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype the network runs in, or None for plain float32.

    ``"auto"`` means bfloat16 on CUDA GPUs that have it (else float16), bfloat16 on CPUs that
    multiply bfloat16 in hardware (see :func:`cpu_has_native_bf16`), and float32 elsewhere.
    Pixels, Gram matrices and loss sums stay float32 in every case.
    """
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "float16":
        if device.type == "cpu":
            raise RestyleError("float16 is not supported on the CPU; use bfloat16 or float32")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def memory_format(device: torch.device) -> torch.memory_format:
    """The activation layout the network runs fastest in on ``device``.

    Channels-last (NHWC) on CUDA (tensor cores) and on the CPU (oneDNN's blocked kernels skip a
    reorder per convolution); the default (NCHW) elsewhere.
    """
    if device.type in ("cuda", "cpu"):
        return torch.channels_last
    return torch.contiguous_format


def configure_backends(device: torch.device) -> None:
    """Backend settings for a run on ``device``: cuDNN autotuning on CUDA (the image size is
    fixed within a scale, so the search pays off after a step or two)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure on any device.

    By type: ``torch.OutOfMemoryError`` (CUDA and other accelerators) and ``MemoryError``.
    torch's CPU allocator raises a plain ``RuntimeError`` with no type of its own; it is told
    apart here, and only here, by the allocator's name in the message.
    """
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return type(exc) is RuntimeError and "DefaultCPUAllocator" in str(exc)
