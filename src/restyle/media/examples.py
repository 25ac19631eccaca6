"""Built-in example images that need no files and no network: they ship inside scikit-image's
wheel: "Chelsea the cat" (CC0, Stefan van der Walt) and an immunohistochemistry micrograph of
colonic glands (no known copyright restrictions, Center for Microscopy And Molecular Imaging),
whose brown-and-blue cell walls paint like strokes.
"""

from __future__ import annotations

from PIL import Image


def example_images() -> tuple[Image.Image, Image.Image]:
    """The built-in (content photo, style image) pair."""
    from skimage import data

    cat = data.chelsea()  # type: ignore[no-untyped-call]
    ihc = data.immunohistochemistry()  # type: ignore[no-untyped-call]
    return Image.fromarray(cat), Image.fromarray(ihc)
