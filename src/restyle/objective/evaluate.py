"""One evaluator for any objective: its value and image gradient, whole or tile by tile.

An objective is a list of terms (:mod:`restyle.objective.terms`). :func:`evaluate` runs the
network once over the image (or over each tile of a plan from
:func:`restyle.objective.tiles.plan_tiles`), lets every feature term measure its statistics,
sums them over the windows, asks each term for its value, and returns the values with a
function that accumulates ``scale`` times the image gradient into ``x.grad``:

* whole image: one forward pass with gradients; each term's gradient with respect to the
  features it reads is handed to autograd directly (for Gram terms one ``K F`` product per
  layer, no float32 copy of half-precision features), one backward pass.
* tiles: pass 1 runs each tile without gradients to sum the statistics (a Gram matrix is a sum
  over positions, and a tile's interior features are exact); pass 2 runs each tile again with
  gradients and back-propagates the tile's share. Memory depends on the tile size, not on the
  image's; a step costs about 1.5 times a whole-image step plus the margins.

Terms that read the pixels (total variation, temporal consistency) are evaluated on the whole
image with autograd in both cases: they need no network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from ..config import LAYER_INDEX
from ..net.vgg import VGGFeatures, feature_stride
from .terms import FeatureTerm, ImageTerm, Term, gram, gram_sum, is_image_term
from .tiles import WHOLE, Tile, TileWindow, Window, features_by_tile, tiles_for

#: The image gradient's accumulator: called with the optimiser's loss scale.
Backward = Callable[[float], None]


def _split(terms: Sequence[Term]) -> tuple[list[FeatureTerm], list[ImageTerm]]:
    feature_terms: list[FeatureTerm] = []
    image_terms: list[ImageTerm] = []
    for t in terms:
        if is_image_term(t):
            image_terms.append(t)  # type: ignore[arg-type]
        else:
            feature_terms.append(t)  # type: ignore[arg-type]
    return feature_terms, image_terms


def layers_of(terms: Sequence[Term]) -> list[str]:
    """Every layer the terms read, in first-use order."""
    feature_terms, _ = _split(terms)
    return list(dict.fromkeys(k for t in feature_terms for k in t.layers))


def _add(into: dict[str, torch.Tensor], stats: Mapping[str, torch.Tensor]) -> None:
    for k, v in stats.items():
        into[k] = v if k not in into else into[k] + v


def _layer_gradient(
    terms: Sequence[FeatureTerm], feats: Mapping[str, torch.Tensor], window: Window, scale: float,
    layer: str,
) -> torch.Tensor | None:  # fmt: skip
    """Every term's gradient at ``layer`` for one window, summed (None: no term gives one)."""
    only = {layer: feats[layer]}
    total: torch.Tensor | None = None
    for t in terms:
        if layer in t.layers:
            g = t.gradient(only, window, scale).get(layer)
            if g is not None:
                total = g if total is None else total.add_(g)
    return total


def _gradients(
    terms: Sequence[FeatureTerm], feats: Mapping[str, torch.Tensor], window: Window, scale: float
) -> dict[str, torch.Tensor]:
    """Every term's gradient for one window, summed by layer (layers with features only)."""
    grads = {k: _layer_gradient(terms, feats, window, scale, k) for k in feats if feats[k].numel()}
    return {k: g for k, g in grads.items() if g is not None}


def _propagate(
    terms: Sequence[FeatureTerm], feats: dict[str, torch.Tensor], window: Window, scale: float
) -> None:
    """Back-propagate the terms' gradient from the whole image's features ``feats`` (by layer;
    emptied as the pass goes) to the image, one stretch of the network at a time, deepest
    layer first. Each layer's own gradient is made only when the pass reaches that layer and
    is let go once added in, and each layer's features once the pass has left them: at the
    first layers, where a step's memory peaks, neither the deeper layers' features and
    gradients nor the first layer's own gradient (64 MB at 500x500 pixels in float32) are held
    beside the back-propagated one."""
    order = sorted(
        (k for k in feats if feats[k].numel()), key=LAYER_INDEX.__getitem__, reverse=True
    )
    at: str | None = None  # the layer the pass has reached, and the gradient there
    g: torch.Tensor | None = None
    for k in order:
        if g is None or at is None:
            g = _layer_gradient(terms, feats, window, scale, k)
        else:
            (back,) = torch.autograd.grad(feats.pop(at), feats[k], g)
            del g
            own = _layer_gradient(terms, feats, window, scale, k)
            g = back if own is None else back.add_(own)
            del back, own
        at = k
    if g is not None and at is not None:
        torch.autograd.backward(feats.pop(at), g)


def evaluate(
    net: VGGFeatures,
    terms: Sequence[Term],
    x: torch.Tensor,
    tiles: Sequence[Tile] | None = None,
) -> tuple[dict[str, float], Backward]:
    """The objective's terms for image ``x`` ``(N, 3, H, W)``, and its gradient on request.

    Args:
        net: the feature network.
        terms: the objective, a list of terms; their values are reported under their names.
        x: the image, a leaf tensor that requires grad (or not: values only).
        tiles: a tile plan for bounded memory, or None for one whole-image pass.

    Returns:
        ``({"total": ..., name: value, ...}, backward)``: the weighted values as floats (one
        device transfer), and ``backward(scale)``, which accumulates ``scale`` times the
        gradient of the total into ``x.grad``. Call it at most once.
    """
    feature_terms, image_terms = _split(terms)
    layers = list(dict.fromkeys(k for t in feature_terms for k in t.layers))
    _, _, h, w = x.shape
    positions = {k: (h // feature_stride(k)) * (w // feature_stride(k)) for k in layers}
    stats: list[dict[str, torch.Tensor]] = [{} for _ in feature_terms]

    kept: dict[str, torch.Tensor] = {}
    if layers and tiles is None:
        kept = net(x, layers)  # with gradients: the backward pass uses these
        with torch.no_grad():
            for t, s in zip(feature_terms, stats, strict=True):
                _add(s, t.measure(kept, WHOLE))
    elif layers and tiles is not None:
        with torch.no_grad():
            for tile in tiles:
                window = TileWindow(tile)
                crop = net(x[..., tile.cy0 : tile.cy1, tile.cx0 : tile.cx1], layers)
                parts = {k: window.interior(k, crop[k]) for k in layers}
                for t, s in zip(feature_terms, stats, strict=True):
                    _add(s, t.measure(parts, window))
                del crop, parts

    values = [t.value(s, positions) for t, s in zip(feature_terms, stats, strict=True)]
    image_values = [t.image_value(x) for t in image_terms]
    numbers = torch.stack(
        [v.detach().to(device=x.device, dtype=torch.float64).reshape(()) for v in values]
        + [v.detach().to(device=x.device, dtype=torch.float64).reshape(()) for v in image_values]
    ).tolist()  # one transfer (one device sync on a GPU)
    report: dict[str, float] = {"total": 0.0}
    total = 0.0
    names = [t.name for t in feature_terms] + [t.name for t in image_terms]
    for name, number in zip(names, numbers, strict=True):
        report[name] = report.get(name, 0.0) + number
        total += number
    report["total"] = total

    def backward(scale: float) -> None:
        if layers and tiles is None:
            _propagate(feature_terms, kept, WHOLE, scale)
            kept.clear()
        elif layers and tiles is not None:
            for tile in tiles:
                window = TileWindow(tile)
                crop = net(x[..., tile.cy0 : tile.cy1, tile.cx0 : tile.cx1], layers)
                parts = {k: window.interior(k, crop[k]) for k in layers}
                grads = _gradients(feature_terms, parts, window, scale)
                if grads:  # the interiors are views: one pass from all of them
                    torch.autograd.backward([parts[k] for k in grads], list(grads.values()))
                del crop, parts, grads
        for v in image_values:
            if v.requires_grad:
                (v * scale).backward()  # type: ignore[no-untyped-call]

    return report, backward


@torch.no_grad()
def features_and_grams(
    net: VGGFeatures,
    image: torch.Tensor,
    feature_layers: Sequence[str],
    gram_layers: Sequence[str],
    max_pixels: int = 0,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Targets of ``image`` ``(N, 3, H, W)``: features at ``feature_layers`` (float32) and Gram
    matrices (as :func:`restyle.objective.terms.gram`, ``(N, C, C)``) at ``gram_layers``.

    In one pass, or tile by tile when the image has more than ``max_pixels`` pixels (0: never).
    """
    layers = list(dict.fromkeys([*feature_layers, *gram_layers]))
    if not layers:
        return {}, {}
    n, _, h, w = image.shape
    tiles = tiles_for(w, h, max_pixels, layers)
    whole = tiles is None
    feats_out: dict[str, torch.Tensor] = {}
    grams: dict[str, torch.Tensor] = {}
    sums: dict[str, torch.Tensor] = {}
    for window, parts in features_by_tile(net, image, layers, tiles):
        for k, part in parts.items():
            if k in feature_layers:
                if whole:
                    feats_out[k] = part.float().contiguous()
                else:
                    if k not in feats_out:
                        s = feature_stride(k)
                        shape = (n, part.shape[1], h // s, w // s)
                        feats_out[k] = image.new_empty(shape, dtype=torch.float32)
                    window.crop(k, feats_out[k]).copy_(part)
            if k not in gram_layers:
                continue
            if whole:
                grams[k] = gram(part)
                continue
            g = gram_sum(part)
            if g is not None:
                sums[k] = g if k not in sums else sums[k] + g
    for k, g in sums.items():
        s = feature_stride(k)
        grams[k] = g / ((h // s) * (w // s))
    return feats_out, grams
