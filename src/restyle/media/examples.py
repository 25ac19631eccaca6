"""The built-in example: a photo from scikit-image's wheel, painted with a built-in painting.

Neither needs a file of the user's or the network: the photo ships inside scikit-image (a
dependency) and the painting inside restyle (:mod:`restyle.media.paintings`). scikit-image is
imported only when the photo is asked for.
"""

from __future__ import annotations

from PIL import Image

from .paintings import load_painting

__all__ = [
    "EXAMPLE_PAINTING",
    "EXAMPLE_PHOTO",
    "PHOTO_CREDIT",
    "PHOTO_TITLE",
    "example_images",
    "example_photo",
]

#: The ``skimage.data`` function that gives the example photo.
EXAMPLE_PHOTO = "coffee"
#: What the photo shows, for captions.
PHOTO_TITLE = "Coffee cup"
#: Who took the photo and under which terms (from scikit-image's documentation).
PHOTO_CREDIT = "photo by Rachel Michetti, courtesy of Pikolo Espresso Bar, CC0 (scikit-image)"
#: The built-in painting of the example (a name from :mod:`restyle.media.paintings`).
EXAMPLE_PAINTING = "starry-night"


def example_photo() -> Image.Image:
    """The example photo, from scikit-image's wheel (``skimage.data``)."""
    from skimage import data

    array = getattr(data, EXAMPLE_PHOTO)()
    return Image.fromarray(array)


def example_images() -> tuple[Image.Image, Image.Image]:
    """The built-in (content photo, style painting) pair."""
    return example_photo(), load_painting(EXAMPLE_PAINTING)
