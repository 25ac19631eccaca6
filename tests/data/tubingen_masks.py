"""How tests/data/tubingen_sky.png and tubingen_rest.png were made from
../shared/images/content/tubingen.jpg (1024 x 768): sky = blue pixels connected to the top
edge, the tree's thin branches against it closed into the sky, holes filled, the edge smoothed
and feathered by about 2 px; rest = its complement. Written at 512 x 384 (masks are resized
to the output anyway).

Run from the repository root: ``python tests/data/tubingen_masks.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

HERE = Path(__file__).resolve().parent
PHOTO = HERE.parents[2] / "shared" / "images" / "content" / "tubingen.jpg"


def sky_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean sky of an RGB image (H, W, 3) uint8."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    blue = (b > r + 40) & (b > g + 10) & (b > 120)
    labels, _ = ndimage.label(blue)
    top = set(np.unique(labels[0])) - {0}
    sky = np.isin(labels, list(top))
    pad = 24  # morphology near the border sees the image continued, not a black frame
    sky = np.pad(sky, pad, mode="edge")
    sky = ndimage.binary_closing(sky, structure=np.ones((9, 9)), iterations=2)
    sky = ndimage.binary_opening(sky, structure=np.ones((5, 5)))
    sky = ndimage.binary_fill_holes(sky)[pad:-pad, pad:-pad]
    labels, n = ndimage.label(sky)
    if n > 1:  # keep the largest piece
        sizes = ndimage.sum(sky, labels, range(1, n + 1))
        sky = labels == (1 + int(np.argmax(sizes)))
    return np.asarray(sky)


def main() -> None:
    rgb = np.asarray(Image.open(PHOTO).convert("RGB"))
    sky = Image.fromarray(sky_mask(rgb).astype(np.uint8) * 255, "L")
    sky = sky.filter(ImageFilter.GaussianBlur(2)).resize((512, 384), Image.Resampling.LANCZOS)
    sky.save(HERE / "tubingen_sky.png", optimize=True)
    rest = Image.fromarray(255 - np.asarray(sky), "L")
    rest.save(HERE / "tubingen_rest.png", optimize=True)


if __name__ == "__main__":
    main()
