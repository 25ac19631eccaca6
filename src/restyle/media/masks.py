"""Region masks as users have them: one greyscale mask per painting, or a colour-coded label
image with a map from colours to paintings (or ``photo``).

A mask is an image of any size and format that :func:`~restyle.media.image.load_image` reads
(drawn opaque: transparency counts as white): white is "this painting's style goes here",
black is "not here", grey values in between feather an edge. Masks are kept at their own size
and resized to each scale of a run by :func:`mask_tensor`. Pixels that no mask covers stay
the photo.

A label image has one flat colour per region, as segmentation and painting tools export it; a
label map such as ``{"#ff0000": "starry-night", "#00ff00": "photo"}`` names each colour's
painting (a file or a built-in name) or ``photo``. Every pixel goes to the nearest mapped
colour, so anti-aliased edges between flat regions (blends of two mapped colours) are fine; a
colour that is far from all mapped colours and their blends and covers more than
:data:`STRAY_FRACTION` of the image is an error.

Every problem gives a one-line :class:`~restyle.errors.RestyleError`.

Example:
    >>> import numpy as np
    >>> labels = np.zeros((4, 6, 3), dtype=np.uint8)
    >>> labels[:2] = (255, 0, 0)
    >>> labels[2:] = (0, 255, 0)
    >>> styles, masks = label_masks(labels, {"red": "starry-night", "#00ff00": "photo"})
    >>> styles, masks[0].size
    (['starry-night'], (6, 4))
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image, ImageColor

from ..errors import RestyleError
from .image import ImageSource, load_image

__all__ = [
    "EMPTY_LEVEL",
    "PHOTO",
    "STRAY_FRACTION",
    "check_mask",
    "label_masks",
    "load_masks",
    "mask_tensor",
    "parse_label_map",
]

#: The label-map value that keeps a region photographic.
PHOTO = "photo"
#: A mask whose every pixel is darker than this (of 255) selects nothing: "all black".
EMPTY_LEVEL = 8
#: Largest share of a label image that may have a colour far from every mapped colour.
STRAY_FRACTION = 0.005
#: Farthest (Euclidean, 0-255 RGB) a pixel may be from a mapped colour and still count as it.
_COLOR_TOLERANCE = 60.0


def check_mask(mask: Image.Image, role: str) -> Image.Image:
    """``mask`` as a greyscale (``L``) image; raises if it is all black."""
    grey = mask if mask.mode == "L" else mask.convert("L")
    if int(np.asarray(grey).max()) < EMPTY_LEVEL:
        raise RestyleError(f"{role} is all black: it selects no pixels (white = the region)")
    return grey


def load_masks(
    sources: Sequence[ImageSource], count: int, *, names: Sequence[str] | None = None
) -> list[Image.Image]:
    """Load one mask per painting as greyscale images.

    Args:
        sources: the masks (paths, PIL images or arrays), in the paintings' order.
        count: how many paintings there are.
        names: the paintings' names, for messages.

    Raises:
        RestyleError: for a wrong count, an unreadable file or an all-black mask.
    """
    if len(sources) != count:
        raise RestyleError(
            f"{len(sources)} mask{'s' if len(sources) != 1 else ''} given for {count} "
            f"style image{'s' if count != 1 else ''}: give one mask per style image"
        )
    out = []
    for i, src in enumerate(sources):
        role = f"mask {i + 1}"
        if names is not None and i < len(names):
            role += f" (for {names[i]})"
        out.append(check_mask(load_image(src, role=role), role))
    return out


def mask_tensor(mask: Image.Image, width: int, height: int) -> torch.Tensor:
    """``mask`` resized to ``width`` x ``height`` (area-weighted when shrinking), ``(H, W)``
    float32 in [0, 1]."""
    a = np.asarray(mask if mask.mode == "L" else mask.convert("L"), dtype=np.float32) / 255.0
    t = torch.from_numpy(a.copy())[None, None]
    if t.shape[-2:] != (height, width):
        t = F.interpolate(
            t, size=(height, width), mode="bilinear", align_corners=False, antialias=True
        )
    return t[0, 0].clamp(0, 1).contiguous()


def parse_label_map(text: str) -> dict[str, str]:
    """``"#ff0000=starry-night,#00ff00=photo"`` as ``{"#ff0000": "starry-night", ...}``.

    Colours are anything Pillow's ``ImageColor`` reads without a comma (``#f00``,
    ``#ff0000``, ``red``); values are paintings (files or built-in names) or ``photo``.
    """
    out: dict[str, str] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        colour, sep, value = item.partition("=")
        if not sep or not colour.strip() or not value.strip():
            raise RestyleError(
                f"label map entry {item!r} is not COLOUR=PAINTING (e.g. #ff0000=starry-night "
                "or #00ff00=photo)"
            )
        out[colour.strip()] = value.strip()
    if not out:
        raise RestyleError("the label map is empty: give COLOUR=PAINTING pairs")
    return out


def _rgb(colour: str) -> tuple[int, int, int]:
    try:
        c = ImageColor.getrgb(colour)
    except ValueError:
        raise RestyleError(
            f"unknown colour {colour!r} in the label map (use #rrggbb or a colour name)"
        ) from None
    return int(c[0]), int(c[1]), int(c[2])


def label_masks(
    labels: ImageSource, mapping: Mapping[str, str]
) -> tuple[list[str], list[Image.Image]]:
    """Paintings and their masks from a colour-coded label image.

    Args:
        labels: the label image (one flat colour per region).
        mapping: colour -> painting (a file or a built-in name) or ``photo``. Colours mapped to
            the same painting form one region.

    Returns:
        ``(paintings, masks)``: one greyscale mask per painting, in the map's order; regions
        mapped to ``photo`` get none (they stay the photo).

    Raises:
        RestyleError: for an unreadable image, a bad colour, a colour missing from the image, a
            large unmapped colour, or a map with no painting.
    """
    if not mapping:
        raise RestyleError("the label map is empty: give COLOUR=PAINTING pairs")
    img = load_image(labels, role="label image")
    rgb = np.asarray(img, dtype=np.float32)
    colours = [_rgb(c) for c in mapping]
    if len(set(colours)) != len(colours):
        raise RestyleError("the label map names the same colour twice")
    best = np.full(rgb.shape[:2], np.inf, dtype=np.float32)
    nearest = np.zeros(rgb.shape[:2], dtype=np.int64)
    for k, c in enumerate(colours):  # one colour at a time: memory of two (H, W) arrays
        d = np.linalg.norm(rgb - np.asarray(c, dtype=np.float32), axis=-1)
        closer = d < best
        best[closer], nearest[closer] = d[closer], k
    # Anti-aliased edges are blends of two region colours: near the segment between them.
    near = best.copy()
    for i, j in itertools.combinations(range(len(colours)), 2):
        c0, c1 = (np.asarray(colours[k], dtype=np.float32) for k in (i, j))
        ab = c1 - c0
        u = np.clip(((rgb - c0) @ ab) / max(float(ab @ ab), 1e-6), 0.0, 1.0)
        near = np.minimum(near, np.linalg.norm(rgb - (c0 + u[..., None] * ab), axis=-1))
    far = near > _COLOR_TOLERANCE
    if far.mean() > STRAY_FRACTION:
        stray = rgb[far].astype(np.int64)
        values, counts = np.unique(stray, axis=0, return_counts=True)
        r, g, b = (int(v) for v in values[counts.argmax()])
        share = 100.0 * float(far.mean())
        raise RestyleError(
            f"the label image has colours the label map does not name ({share:.1f}% of its "
            f"pixels, most often #{r:02x}{g:02x}{b:02x}): map them, e.g. to photo"
        )
    paintings: list[str] = []
    selected: list[npt.NDArray[np.bool_]] = []
    for k, (colour, value) in enumerate(mapping.items()):
        hit = nearest == k
        if not hit.any():
            raise RestyleError(f"colour {colour} of the label map is not in the label image")
        if value.strip().lower() == PHOTO:
            continue
        if value in paintings:
            selected[paintings.index(value)] |= hit
        else:
            paintings.append(value)
            selected.append(hit)
    if not paintings:
        raise RestyleError("the label map gives no region a painting (all are photo)")
    masks = [Image.fromarray((m * 255).astype(np.uint8), "L") for m in selected]
    return paintings, masks
