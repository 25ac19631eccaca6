"""Quality metrics of a style-transfer result: how far it is from the photo, the painting and
their colours. Defined here once; the ``restyle score`` command, the figures, the tests and the
benchmarks all use these functions.

Everything is measured at a fixed **evaluation size**, the content photo's aspect ratio with a
longest side of :data:`EVAL_SIZE` px (or the output's longest side when that is smaller: an
output is never enlarged), with the bundled VGG19, average pooling and the paper's filter
normalisation, whatever network or size made the image. By default the layers are those of
:class:`~restyle.config.Settings` (read when scoring, so they follow the defaults).

**Content distance** (relative, ``Scores.content``)
    ``D_c(x, p) = sum_l mean_ij (F^l_ij(x) - F^l_ij(p))^2`` over the content layers, the mean
    squared feature difference (the paper's eq. 1 divided by N_l M_l / 2). Reported as
    ``D_c(output, photo) / D_c(reference, photo)``, where the reference is the style painting
    resized to exactly the evaluation size (with several paintings, the mean of their
    distances). 0: the output has the photo's features; 1: it is as far from the photo's
    content as the painting itself is. Lower keeps more of the photo.

**Style distance** (relative, ``Scores.style`` and ``Scores.style_per_layer``)
    Per layer, the paper's eq. 4 ``E_l = 1/(4 N_l^2) ||G^l(x)/M_l - A^l/M_l||^2`` between the
    Gram matrix of the output and that of the painting (the painting resized to the evaluation
    size's pixel count, keeping its aspect ratio; several paintings are blended with equal
    weights), reported relative to the content photo's: ``E_l(output) / E_l(photo)``. 1 means
    the output is as far from the painting's style at that layer as the photo is; 0 means it
    has the painting's Grams. The total is the geometric mean of the per-layer ratios (the
    typical factor by which the output is nearer to the painting's Grams than the photo is),
    so that every layer counts equally and one outlying layer cannot swamp the rest: the raw
    ``E_l`` differ by orders of magnitude between layers, and their weighted sum, the paper's
    eq. 5 ``L_style = sum_l E_l / L``, is reported as ``Scores.style_abs``. Lower is more of
    the painting's style.

**Colour distance** (absolute, ``Scores.color_to_style``, ``Scores.color_to_content``)
    A sliced Wasserstein-2 distance between the colour distributions of two images in CIE Lab
    (D65), in Lab units (about ΔE*ab): pixels are projected onto :data:`COLOR_DIRECTIONS` fixed
    unit directions, each projection's distribution is compared through
    :data:`COLOR_QUANTILES` quantiles, and the result is the root mean square of the
    per-direction W2 distances. It compares palettes only (where the colours are does not
    matter), is 0 for identical colour histograms, and does not depend on image size.
    ``Scores.color_reference`` is the photo's own distance to the painting, for scale.

Example:
    >>> from restyle.metrics import score  # doctest: +SKIP
    >>> s = score("out.png", "photo.jpg", "starry_night.jpg")  # doctest: +SKIP
    >>> s.content, s.style, s.color_to_style  # doctest: +SKIP
    (0.41, 0.08, 9.7)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from .config import check_layers, deepest
from .errors import RestyleError
from .media.image import ImageSource, load_image, resize, to_tensor
from .media.masks import load_masks, mask_tensor
from .net.cache import NetworkSpec, default_cache
from .net.vgg import VGGFeatures
from .objective.guided import normalise
from .objective.masks import propagate
from .objective.terms import gram, style_layer_loss
from .optim.schedule import output_size, style_size

__all__ = [
    "COLOR_DIRECTIONS",
    "COLOR_QUANTILES",
    "EDGE_BAND",
    "EVAL_POOLING",
    "EVAL_SIZE",
    "EVAL_WEIGHTS",
    "RegionScores",
    "Scorer",
    "Scores",
    "color_distance",
    "content_distance",
    "score",
    "score_regions",
    "style_distances",
]

#: Longest side (px) at which images are compared.
EVAL_SIZE = 256
#: The network the metrics use, fixed so that scores are comparable between runs.
EVAL_WEIGHTS = "bundled"
EVAL_POOLING = "avg"
#: Number of fixed random projection directions of the sliced Wasserstein colour distance.
COLOR_DIRECTIONS = 64
#: Quantiles per direction at which the two colour distributions are compared.
COLOR_QUANTILES = 128
_COLOR_SEED = 20160627  # fixed: the directions are part of the metric's definition


@dataclass(frozen=True)
class Scores:
    """The quality metrics of one image (see the module docstring for definitions).

    Relative values are ``None`` where they need a content photo that was not given
    (texture synthesis).

    Attributes:
        size: evaluation (width, height) in pixels.
        content_layers, style_layers: the layers measured.
        content: relative content distance (0 = the photo's features, 1 = the painting's).
        style: relative total style distance, the geometric mean of ``style_per_layer``
            (1 = as far as the photo, 0 = the painting's).
        style_per_layer: relative style distance per style layer.
        color_to_style: colour distance output to painting (Lab units).
        color_to_content: colour distance output to photo (Lab units).
        color_reference: colour distance photo to painting (Lab units), for scale.
        content_abs, content_reference_abs: ``D_c(output, photo)`` and
            ``D_c(painting, photo)``.
        style_abs, style_reference_abs: ``L_style`` of the output and of the photo.
        style_per_layer_abs: ``E_l`` of the output per style layer.
    """

    size: tuple[int, int]
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    content: float | None
    style: float | None
    style_per_layer: dict[str, float] | None
    color_to_style: float
    color_to_content: float | None
    color_reference: float | None
    content_abs: float | None
    content_reference_abs: float | None
    style_abs: float
    style_reference_abs: float | None
    style_per_layer_abs: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict (tuples become lists)."""
        return {
            "size": list(self.size),
            "content_layers": list(self.content_layers),
            "style_layers": list(self.style_layers),
            "content": self.content,
            "style": self.style,
            "style_per_layer": None if self.style_per_layer is None else dict(self.style_per_layer),
            "color_to_style": self.color_to_style,
            "color_to_content": self.color_to_content,
            "color_reference": self.color_reference,
            "content_abs": self.content_abs,
            "content_reference_abs": self.content_reference_abs,
            "style_abs": self.style_abs,
            "style_reference_abs": self.style_reference_abs,
            "style_per_layer_abs": dict(self.style_per_layer_abs),
        }


# --------------------------------------------------------------------------------------------
# The distances themselves


def content_distance(
    features: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> float:
    """``D_c``: mean squared feature difference, summed over the layers of ``target``.

    Both mappings hold (1, N, H, W) activations of equally sized images.
    """
    total = 0.0
    for layer, t in target.items():
        f = features[layer]
        if f.shape != t.shape:
            raise RestyleError(
                f"content features at {layer} differ in shape: {tuple(f.shape)} vs {tuple(t.shape)}"
            )
        total += float((f.float() - t.float()).pow(2).mean())
    return total


def style_distances(
    grams: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """``E_l`` (paper eq. 4, Grams divided by M) per layer of ``target``."""
    return {layer: float(style_layer_loss(grams[layer], t)) for layer, t in target.items()}


def _lab_pixels(img: Image.Image, max_side: int = EVAL_SIZE) -> npt.NDArray[np.float64]:
    """Lab colours of ``img`` (shrunk so its longest side is at most ``max_side``), (P, 3)."""
    from skimage.color import rgb2lab

    w, h = img.size
    if max(w, h) > max_side:
        w, h = output_size(w, h, max_side)
        img = resize(img, w, h)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    lab: npt.NDArray[np.float64] = rgb2lab(rgb).reshape(-1, 3)
    return lab


@lru_cache(maxsize=1)
def _directions() -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(_COLOR_SEED)
    d = rng.standard_normal((COLOR_DIRECTIONS, 3))
    d[:3] = np.eye(3)  # always include the L, a and b axes themselves
    out: npt.NDArray[np.float64] = d / np.linalg.norm(d, axis=1, keepdims=True)
    return out


def _quantiles(lab: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    qs = (np.arange(COLOR_QUANTILES) + 0.5) / COLOR_QUANTILES
    proj = lab @ _directions().T  # (P, D)
    out: npt.NDArray[np.float64] = np.quantile(proj, qs, axis=0)  # (Q, D)
    return out


def _swd(qa: npt.NDArray[np.float64], qb: npt.NDArray[np.float64]) -> float:
    return float(math.sqrt(float(np.mean((qa - qb) ** 2))))


def color_distance(a: ImageSource, b: ImageSource | Sequence[ImageSource]) -> float:
    """Sliced Wasserstein-2 distance of the Lab colour distributions of ``a`` and ``b``.

    ``b`` may be several images: their pixels are pooled (each shrunk to the same size first,
    so each counts about equally). In Lab units; 0 for identical colour histograms.
    """
    ia = load_image(a, role="image")
    qb = _pooled_quantiles(_as_list(b, "image"))
    return _swd(_quantiles(_lab_pixels(ia)), qb)


def _pooled_quantiles(images: Sequence[Image.Image]) -> npt.NDArray[np.float64]:
    pixels = [_lab_pixels(img) for img in images]
    return _quantiles(np.concatenate(pixels, axis=0))


def _as_list(x: ImageSource | Sequence[ImageSource], role: str) -> list[Image.Image]:
    items: Sequence[ImageSource]
    if isinstance(x, (str, Image.Image, np.ndarray)) or not isinstance(x, Sequence):
        items = [x]
    else:
        items = list(x)
    if not items:
        raise RestyleError(f"at least one {role} is needed")
    many = len(items) > 1
    return [load_image(s, role=f"{role} {i + 1}" if many else role) for i, s in enumerate(items)]


# --------------------------------------------------------------------------------------------
# Scoring outputs against one photo and painting


def _network(last_layer: str, device: str) -> VGGFeatures:
    """The evaluation network, from the process's shared cache (runs in the same process,
    e.g. the web app's, use the same network when their settings match)."""
    spec = NetworkSpec(weights=EVAL_WEIGHTS, pooling=EVAL_POOLING, device=device)
    return default_cache().network(spec, last_layer)


@dataclass
class _Reference:
    """The photo's and painting's measurements at one evaluation size."""

    size: tuple[int, int]
    net: VGGFeatures
    style_target: dict[str, torch.Tensor]
    content_target: dict[str, torch.Tensor]
    content_ref: float | None  # D_c(painting, photo)
    style_ref: dict[str, float] | None  # E_l(photo)


class Scorer:
    """Scores many outputs against one content photo and style painting(s).

    The photo's and painting's features, Grams and colour statistics are computed once per
    evaluation size, so scoring a whole contact sheet costs one network pass per output.

    The evaluation size has the content photo's aspect ratio (the output's own for a texture)
    and a longest side of ``size`` px, or of the output's longest side when that is smaller:
    outputs are never enlarged, which would blur them and inflate their distances.

    Args:
        content: the content photo, or ``None`` for texture synthesis (then relative values
            and the content and photo-colour distances are ``None``).
        style: the painting, or several (their Grams are blended with equal weights).
        content_layers, style_layers: layers to measure; default: ``Settings()``'s.
        size: longest side of the evaluation size in px.
        device: where the network runs.
    """

    def __init__(
        self,
        content: ImageSource | None,
        style: ImageSource | Sequence[ImageSource],
        *,
        content_layers: Sequence[str] | None = None,
        style_layers: Sequence[str] | None = None,
        size: int = EVAL_SIZE,
        device: str = "cpu",
    ) -> None:
        from .config import Settings

        defaults = Settings()
        self.content_layers = tuple(
            defaults.content_layers if content_layers is None else content_layers
        )
        self.style_layers = tuple(defaults.style_layers if style_layers is None else style_layers)
        if not self.style_layers:
            raise RestyleError("at least one style layer is needed to score an image")
        check_layers(self.content_layers + self.style_layers)
        if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 4096:
            raise RestyleError(f"evaluation size must be between 16 and 4096 px, got {size!r}")
        self.eval_longest = size
        self.device = device
        self.content = None if content is None else load_image(content, role="content image")
        self.styles = _as_list(style, "style image")
        self._refs: dict[tuple[int, int], _Reference] = {}
        self.style_q = _pooled_quantiles(self.styles)
        self.content_q: npt.NDArray[np.float64] | None = None
        self.color_ref: float | None = None
        if self.content is not None:
            self.content_q = _quantiles(_lab_pixels(self.content))
            self.color_ref = _swd(self.content_q, self.style_q)

    def eval_size(self, output_w: int, output_h: int) -> tuple[int, int]:
        """(width, height) at which an output of this size is compared."""
        longest = min(self.eval_longest, max(output_w, output_h))
        ref = self.content.size if self.content is not None else (output_w, output_h)
        return output_size(ref[0], ref[1], max(16, longest))

    def _features(
        self, net: VGGFeatures, img: Image.Image, layers: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        x = to_tensor(img).to(self.device)
        out: dict[str, torch.Tensor] = net(x, list(dict.fromkeys(layers)))
        return out

    @torch.no_grad()
    def _reference(self, w: int, h: int) -> _Reference:
        if (w, h) in self._refs:
            return self._refs[(w, h)]
        layers = list(self.content_layers if self.content is not None else ()) + list(
            self.style_layers
        )
        net = _network(deepest(layers), self.device)
        grams: list[dict[str, torch.Tensor]] = []
        for img in self.styles:
            sw, sh = style_size(img.width, img.height, w, h, 1.0)
            feats = self._features(net, resize(img, sw, sh), self.style_layers)
            grams.append({k: gram(v) for k, v in feats.items()})
        n = len(grams)
        style_target = {
            layer: sum((g[layer] for g in grams), torch.zeros_like(grams[0][layer])) / n
            for layer in self.style_layers
        }
        content_target: dict[str, torch.Tensor] = {}
        content_ref: float | None = None
        style_ref: dict[str, float] | None = None
        if self.content is not None:
            photo = resize(self.content, w, h)
            feats = self._features(net, photo, self.content_layers + self.style_layers)
            content_target = {k: feats[k] for k in self.content_layers}
            style_ref = style_distances(
                {k: gram(feats[k]) for k in self.style_layers}, style_target
            )
            if self.content_layers:
                refs = [
                    content_distance(
                        self._features(net, resize(img, w, h), self.content_layers),
                        content_target,
                    )
                    for img in self.styles
                ]
                content_ref = sum(refs) / len(refs)
        ref = _Reference((w, h), net, style_target, content_target, content_ref, style_ref)
        self._refs[(w, h)] = ref
        return ref

    @torch.no_grad()
    def score(self, output: ImageSource) -> Scores:
        """The :class:`Scores` of ``output`` (resized to the evaluation size)."""
        out_img = load_image(output, role="output image")
        w, h = self.eval_size(out_img.width, out_img.height)
        ref = self._reference(w, h)
        x = resize(out_img, w, h)
        has_content = self.content is not None
        layers = (self.content_layers if has_content else ()) + self.style_layers
        feats = self._features(ref.net, x, layers)
        e_abs = style_distances({k: gram(feats[k]) for k in self.style_layers}, ref.style_target)
        n = len(self.style_layers)
        style_abs = sum(e_abs.values()) / n
        q = _quantiles(_lab_pixels(x))
        content_rel = content_abs = style_rel = style_ref_total = None
        per_layer_rel: dict[str, float] | None = None
        color_to_content = None
        if has_content:
            assert ref.style_ref is not None and self.content_q is not None
            if self.content_layers:
                content_abs = content_distance(feats, ref.content_target)
                content_rel = _ratio(content_abs, ref.content_ref)
            style_ref_total = sum(ref.style_ref.values()) / n
            per_layer_rel = {k: _ratio(e_abs[k], ref.style_ref[k]) for k in self.style_layers}
            style_rel = _geometric_mean(list(per_layer_rel.values()))
            color_to_content = _swd(q, self.content_q)
        return Scores(
            size=(w, h),
            content_layers=self.content_layers if has_content else (),
            style_layers=self.style_layers,
            content=content_rel,
            style=style_rel,
            style_per_layer=per_layer_rel,
            color_to_style=_swd(q, self.style_q),
            color_to_content=color_to_content,
            color_reference=self.color_ref,
            content_abs=content_abs,
            content_reference_abs=ref.content_ref,
            style_abs=style_abs,
            style_reference_abs=style_ref_total,
            style_per_layer_abs=e_abs,
        )


def _geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of non-negative numbers (0 if any is 0, inf if any is inf)."""
    if any(v == 0 for v in values):
        return 0.0
    if any(math.isinf(v) for v in values):
        return math.inf
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _ratio(value: float, reference: float | None) -> float:
    """``value / reference``; 0/0 is 0 and x/0 is infinity (the reference is degenerate)."""
    if reference is None:
        return math.nan
    if reference == 0:
        return 0.0 if value == 0 else math.inf
    return value / reference


def score(
    output: ImageSource,
    content: ImageSource | None,
    style: ImageSource | Sequence[ImageSource],
    *,
    content_layers: Sequence[str] | None = None,
    style_layers: Sequence[str] | None = None,
    size: int = EVAL_SIZE,
    device: str = "cpu",
) -> Scores:
    """The quality metrics of ``output`` made from ``content`` and ``style``.

    A shortcut for ``Scorer(content, style, ...).score(output)``; see :class:`Scorer`.
    """
    return Scorer(
        content,
        style,
        content_layers=content_layers,
        style_layers=style_layers,
        size=size,
        device=device,
    ).score(output)


# --------------------------------------------------------------------------------------------
# Regions (spatial control, Gatys et al. 2017): each region against its own painting

#: Width in pixels, at the evaluation size, of the band along a region's edge where
#: :func:`score_regions` looks for bleeding.
EDGE_BAND = 12


@dataclass(frozen=True)
class RegionScores:
    """The metrics of one region of a masked result (see :func:`score_regions`).

    Attributes:
        name: the region's painting as given, or ``photo`` for the pixels no mask covers.
        area: the region's share of the image.
        content: relative content distance inside the region (as ``Scores.content``, with the
            region's positions only; the reference is its painting's, or for the photo region
            the mean of the paintings').
        style: relative style distance inside the region to its own painting (as
            ``Scores.style``, with guided Gram matrices: 1 = as far as the photo there); None
            for the photo region.
        style_per_layer: the same per style layer.
        edge_style: bleeding and seams of a painted region: its relative style distance in the
            band of :data:`EDGE_BAND` px inside its edge over the same in its interior. 1: the
            edge is as much its painting as the middle; more: another style's halo or an
            unstyled seam there. Deep layers see across the edge, so even a clean boundary
            scores somewhat above 1: compare runs.
        edge_content: for the photo region, the relative content distance in the band inside
            its edge (0: the photo is untouched up to the edge; a halo of style raises it).
    """

    name: str
    area: float
    content: float | None
    style: float | None
    style_per_layer: dict[str, float] | None
    edge_style: float | None
    edge_content: float | None

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict."""
        return {
            "name": self.name,
            "area": self.area,
            "content": self.content,
            "style": self.style,
            "style_per_layer": None if self.style_per_layer is None else dict(self.style_per_layer),
            "edge_style": self.edge_style,
            "edge_content": self.edge_content,
        }


def _layer_masks(mask: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    return propagate(mask, layers, "simple")


def _masked_content(
    feats: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
) -> float | None:
    """``D_c`` over the positions of a region: the mask-weighted mean squared difference."""
    total = 0.0
    for layer, t in target.items():
        m = masks[layer]
        weight = float(m.sum()) * t.shape[1]
        if weight <= 0:
            return None
        total += float(((feats[layer].float() - t.float()).pow(2) * m).sum()) / weight
    return total


def _masked_style(
    feats: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
) -> dict[str, float] | None:
    """``E_l`` per layer between the region's guided Gram and ``target``."""
    out = {}
    for layer, a in target.items():
        m = normalise(masks[layer])
        if m is None:
            return None
        out[layer] = float(style_layer_loss(gram(feats[layer].float() * m), a))
    return out


def _relative_style(
    x: Mapping[str, torch.Tensor],
    photo: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
) -> tuple[float, dict[str, float]] | None:
    e_x = _masked_style(x, target, masks)
    e_p = _masked_style(photo, target, masks)
    if e_x is None or e_p is None:
        return None
    rel = {k: _ratio(e_x[k], e_p[k]) for k in target}
    return _geometric_mean(list(rel.values())), rel


@torch.no_grad()
def score_regions(
    output: ImageSource,
    content: ImageSource,
    styles: Sequence[ImageSource],
    masks: Sequence[ImageSource],
    *,
    names: Sequence[str] | None = None,
    content_layers: Sequence[str] | None = None,
    style_layers: Sequence[str] | None = None,
    size: int = EVAL_SIZE,
    band: int = EDGE_BAND,
    device: str = "cpu",
) -> list[RegionScores]:
    """Per-region metrics of a result made with one mask per painting (spatial control).

    Each painted region is compared with its own painting, through its mask carried to each
    layer by resizing (``simple``); the pixels that no mask covers (if more than 0.5% of the
    image) form a ``photo`` region, compared with the photo only. Sizes, network and layers
    as for :class:`Scorer`.

    Args:
        output: the result.
        content: the photo.
        styles: the paintings, one per mask.
        masks: the masks the result was made with (white: the painting's region).
        names: a name per painting for the report (default: the paths, or ``style N``).
        content_layers, style_layers: layers to measure; default: ``Settings()``'s.
        size: longest side of the evaluation size in px.
        band: width of the edge band in px at the evaluation size.
        device: where the network runs.

    Returns:
        One :class:`RegionScores` per painting, in order, then the photo region if any.
    """
    from .config import Settings

    defaults = Settings()
    c_layers = tuple(defaults.content_layers if content_layers is None else content_layers)
    s_layers = tuple(defaults.style_layers if style_layers is None else style_layers)
    check_layers(c_layers + s_layers)
    if not s_layers:
        raise RestyleError("at least one style layer is needed to score an image")
    paintings = _as_list(list(styles), "style image")
    region_masks = load_masks(list(masks), len(paintings))
    if names is None:
        names = [str(x) if isinstance(x, str) else f"style {i + 1}" for i, x in enumerate(styles)]
    photo = load_image(content, role="content image")
    out_img = load_image(output, role="output image")
    longest = min(size, max(out_img.size))
    w, h = output_size(photo.width, photo.height, max(16, longest))
    layers = list(dict.fromkeys(c_layers + s_layers))
    net = _network(deepest(layers), device)

    def feats(img: Image.Image, width: int, height: int) -> dict[str, torch.Tensor]:
        got: dict[str, torch.Tensor] = net(to_tensor(resize(img, width, height)).to(device), layers)
        return got

    fx, fp = feats(out_img, w, h), feats(photo, w, h)
    content_target = {k: fp[k] for k in c_layers}
    f_paint = [feats(p, w, h) for p in paintings]
    grams = []
    for p in paintings:
        sw, sh = style_size(p.width, p.height, w, h, 1.0)
        grams.append({k: gram(v) for k, v in feats(p, sw, sh).items() if k in s_layers})

    pixel = [mask_tensor(m, w, h).to(device) for m in region_masks]
    rest = (1.0 - torch.stack(pixel).sum(0)).clamp(0, 1)
    regions: list[tuple[str, torch.Tensor, int | None]] = [
        (name, m, i) for i, (name, m) in enumerate(zip(names, pixel, strict=True))
    ]
    if float(rest.mean()) > 0.005:
        regions.append(("photo", rest, None))

    def bands(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inside = (m > 0.5).float()[None, None]
        near = torch.nn.functional.max_pool2d(1 - inside, 2 * band + 1, 1, band)
        edge = inside * near
        return edge[0, 0], (inside - edge)[0, 0]

    results = []
    for name, m, i in regions:
        lm = _layer_masks(m, layers)
        refs = [f_paint[i]] if i is not None else f_paint
        ref_c = [_masked_content(f, content_target, lm) for f in refs]
        c_out = _masked_content(fx, content_target, lm) if c_layers else None
        c_rel = None
        if c_out is not None and all(r is not None for r in ref_c):
            c_rel = _ratio(c_out, sum(r for r in ref_c if r is not None) / len(ref_c))
        edge, core = bands(m)
        style = per_layer = edge_style = edge_content = None
        if i is not None:
            target = grams[i]
            whole = _relative_style(fx, fp, target, lm)
            if whole is not None:
                style, per_layer = whole
            e = _relative_style(fx, fp, target, _layer_masks(edge, s_layers))
            c = _relative_style(fx, fp, target, _layer_masks(core, s_layers))
            if e is not None and c is not None:
                edge_style = _ratio(e[0], c[0])
        elif c_layers:
            em = _layer_masks(edge, c_layers)
            e_out = _masked_content(fx, content_target, em)
            e_ref = [_masked_content(f, content_target, em) for f in f_paint]
            if e_out is not None and all(r is not None for r in e_ref):
                edge_content = _ratio(e_out, sum(r for r in e_ref if r is not None) / len(e_ref))
        results.append(
            RegionScores(name, float(m.mean()), c_rel, style, per_layer, edge_style, edge_content)
        )
    return results
