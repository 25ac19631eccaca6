"""Choosing the device and the network's precision."""

from __future__ import annotations

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


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype the network runs in under autocast, or None for plain float32.

    ``"auto"`` means float16 on CUDA (bfloat16 where the GPU has it) and float32 elsewhere.
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
    return None
