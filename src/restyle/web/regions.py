"""Regions painted over the photo in the page's editor, as masks for spatial control
(Gatys et al. 2017; see :mod:`restyle.objective.guided`).

The brush has one colour per style slot (:data:`PALETTE`: the first colour is the first style,
and so on) and white, :data:`PHOTO_COLOUR`, for "keep the photo here". What is left unpainted
takes the first style, so the two common wishes need one stroke each: paint a face white to keep
it photographic, or paint the sky in the second colour to give it the second painting. A canvas
with nothing painted is an ordinary run.

The painted layers become a colour-coded label image (unpainted pixels in the first colour),
which :func:`restyle.media.masks.label_masks` turns into one mask per style, as it does for a
label image a user exports from a segmentation tool.

Example:
    >>> from PIL import Image
    >>> photo = Image.new("RGB", (8, 4))
    >>> layer = Image.new("RGBA", (8, 4))
    >>> layer.paste((37, 99, 235, 255), (0, 0, 8, 2))  # the top half in the second colour
    >>> masks = region_masks({"background": photo, "layers": [layer]}, ["a", "b"])
    >>> [m.getpixel((0, 0)) for m in masks], [m.getpixel((0, 3)) for m in masks]
    ([0, 255], [255, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..errors import RestyleError
from ..media.masks import PHOTO, label_masks

__all__ = ["BRUSH_COLOURS", "PALETTE", "PHOTO_COLOUR", "legend_html", "region_masks"]

#: Brush colour of each style slot, in the order of the styles.
PALETTE: tuple[str, ...] = (
    "#f97316",
    "#2563eb",
    "#16a34a",
    "#9333ea",
    "#dc2626",
    "#0891b2",
    "#ca8a04",
    "#db2777",
)
#: Brush colour of "keep the photo here".
PHOTO_COLOUR = "#ffffff"
#: Every colour the brush offers.
BRUSH_COLOURS: tuple[str, ...] = (*PALETTE, PHOTO_COLOUR)
#: A layer pixel counts as painted from this opacity on (of 255): the brush's soft rim is
#: split between the stroke and what lies under it.
PAINTED_ALPHA = 128


def _layers(value: Any) -> list[Image.Image]:
    """The painted layers of an image-editor value (a dict, or Gradio's EditorValue)."""
    if value is None:
        return []
    layers = value.get("layers") if isinstance(value, dict) else getattr(value, "layers", None)
    return [im for im in layers or [] if isinstance(im, Image.Image)]


def _labels(layers: Sequence[Image.Image]) -> Image.Image | None:
    """The label image of the painted layers (unpainted: the first colour), or None if nothing
    is painted."""
    size = layers[0].size
    first = np.asarray(Image.new("RGB", (1, 1), PALETTE[0]), dtype=np.uint8)[0, 0]
    labels = np.broadcast_to(first, (size[1], size[0], 3)).copy()
    painted_any = False
    for layer in layers:  # later layers are on top
        if layer.size != size:
            layer = layer.resize(size, Image.Resampling.NEAREST)
        rgba = np.asarray(layer.convert("RGBA"), dtype=np.uint8)
        painted = rgba[..., 3] >= PAINTED_ALPHA
        if painted.any():
            labels[painted] = rgba[..., :3][painted]
            painted_any = True
    return Image.fromarray(labels, "RGB") if painted_any else None


def region_masks(value: Any, style_names: Sequence[str]) -> list[Image.Image] | None:
    """One greyscale mask per style from the regions painted in the editor.

    Args:
        value: The editor's value: ``layers`` is a list of RGBA images (what was painted).
        style_names: The run's styles, in order (for messages and the count).

    Returns:
        The masks (white: that style goes here), or None if nothing is painted.

    Raises:
        RestyleError: If a colour names a style the run does not have, or a style got no area.
    """
    layers = _layers(value)
    labels = _labels(layers) if layers else None
    if labels is None:
        return None
    # Only the colours the page offers: anything else (a stray blend) goes to the nearest one.
    mapping = {c: str(i) for i, c in enumerate(PALETTE)} | {PHOTO_COLOUR: PHOTO}
    present = _present(labels)
    mapping = {c: v for c, v in mapping.items() if c in present}
    if all(v == PHOTO for v in mapping.values()):
        raise RestyleError("the painted regions keep the whole photo: leave some of it to a style")
    slots, masks = label_masks(labels, mapping)
    by_slot = dict(zip((int(s) for s in slots), masks, strict=True))
    n = len(style_names)
    extra = [i for i in by_slot if i >= n]
    if extra:
        i = min(extra)
        raise RestyleError(
            f"a region is painted in the colour of style {i + 1}, but the run has {n} "
            f"style{'s' if n != 1 else ''}: add one or paint over it"
        )
    missing = [i for i in range(n) if i not in by_slot]
    if missing:
        i = missing[0]
        raise RestyleError(
            f"style {i + 1} ({style_names[i]}) has no region: paint one in its colour, or "
            "remove the style"
        )
    return [by_slot[i] for i in range(n)]


def _present(labels: Image.Image) -> set[str]:
    """The offered colours that are the nearest offered colour of at least one pixel."""
    rgb = np.asarray(labels, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    packed = np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])  # a few colours
    distinct = np.stack([packed >> 16, (packed >> 8) & 255, packed & 255], axis=1)
    distinct = distinct.astype(np.float32)
    offered = np.asarray(
        [np.asarray(Image.new("RGB", (1, 1), c), dtype=np.float32)[0, 0] for c in BRUSH_COLOURS]
    )
    nearest = np.linalg.norm(distinct[:, None, :] - offered[None], axis=-1).argmin(axis=1)
    return {BRUSH_COLOURS[k] for k in np.unique(nearest)}


def legend_html(style_names: Sequence[str]) -> str:
    """The brush colours and what each means for the chosen styles (HTML for the page)."""
    from html import escape

    def swatch(colour: str) -> str:
        return f'<span class="rs-swatch" style="background:{colour}" data-colour="{colour}"></span>'

    items = [f"<li>{swatch(PALETTE[i])} {escape(name)}</li>" for i, name in enumerate(style_names)]
    items.append(f"<li>{swatch(PHOTO_COLOUR)} keep the photo</li>")
    first = escape(style_names[0]) if style_names else "the first style"
    return (
        '<div class="rs-legend"><ul>' + "".join(items) + "</ul>"
        f"<p>Unpainted parts take {first}. Paint nothing for an ordinary run.</p></div>"
    )
