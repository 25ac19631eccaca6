"""The built-in paintings: four public-domain works that ship inside restyle, usable by name.

These are the paintings of Gatys et al. (2016), Figure 2. The files are downscaled copies kept
under ``restyle/data/paintings``. Their sources and public-domain status are in that folder's
``SOURCES.md``. Nothing is downloaded. A painting's file is read only when it is asked for, never
at import.

Wherever a style image is expected, a name can be given instead of a path:
``restyle photo.jpg starry-night -o out.png``, ``stylize("photo.jpg", "the-scream")``. An
existing file always wins over a built-in name, so a file called ``starry-night`` in the
working folder is used as it is.

Example:
    >>> find_painting("Starry_Night").name
    'starry-night'
    >>> [p.name for p in PAINTINGS]
    ['shipwreck', 'starry-night', 'the-scream', 'composition-vii']
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass

from PIL import Image

from ..errors import RestyleError
from .image import ImageSource, _show, load_image

__all__ = [
    "PAINTINGS",
    "Painting",
    "find_painting",
    "get_painting",
    "load_painting",
    "painting_names",
    "resolve_style",
]

#: The folder inside the ``restyle`` package that holds the painting files.
DATA_FOLDER = ("data", "paintings")


@dataclass(frozen=True)
class Painting:
    """One built-in painting.

    Attributes:
        name: The name to use on the command line and in the API (lower case, hyphens).
        title: The painting's title.
        artist: Who painted it.
        year: When it was painted, as text (``"c. 1805-1810"``).
        description: One line about what it brings to a photo.
        file: The file name under ``restyle/data/paintings``.
        aliases: Other names that find it (also normalised: case, ``_`` and spaces don't matter).
    """

    name: str
    title: str
    artist: str
    year: str
    description: str
    file: str
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``"The Starry Night (Vincent van Gogh, 1889)"``: for menus and captions."""
        return f"{self.title} ({self.artist}, {self.year})"

    def load(self) -> Image.Image:
        """Read the painting from the package.

        Returns:
            A new 8-bit ``RGB`` image.

        Raises:
            RestyleError: If the file is missing from the installed package.
        """
        ref = importlib.resources.files("restyle").joinpath(*DATA_FOLDER, self.file)
        if not ref.is_file():
            raise RestyleError(
                f"the built-in painting {self.name!r} is missing from this installation of "
                f"restyle ({self.file}); reinstall restyle"
            )
        with importlib.resources.as_file(ref) as path:
            return load_image(path, role=f"built-in painting {self.name}")


PAINTINGS: tuple[Painting, ...] = (
    Painting(
        name="shipwreck",
        title="The Shipwreck of the Minotaur",
        artist="J. M. W. Turner",
        year="c. 1805-1810",
        description="a storm at sea in dark churning waves, white spray and muted browns",
        file="shipwreck.jpg",
        aliases=("shipwreck-of-the-minotaur", "the-shipwreck-of-the-minotaur", "turner"),
    ),
    Painting(
        name="starry-night",
        title="The Starry Night",
        artist="Vincent van Gogh",
        year="1889",
        description="bold swirling brush strokes in deep blues and glowing yellows",
        file="starry-night.jpg",
        aliases=("the-starry-night", "van-gogh"),
    ),
    Painting(
        name="the-scream",
        title="The Scream",
        artist="Edvard Munch",
        year="1893",
        description="long wavy bands of fiery orange, deep blue and green",
        file="the-scream.jpg",
        aliases=("scream", "munch"),
    ),
    Painting(
        name="composition-vii",
        title="Composition VII",
        artist="Wassily Kandinsky",
        year="1913",
        description="abstract, with crowded colourful shapes, hard black lines and bright patches",
        file="composition-vii.jpg",
        aliases=("composition-7", "kandinsky"),
    ),
)
"""Every built-in painting, in the order of the paper's Figure 2 (B, C, D, F)."""


def _key(name: str) -> str:
    """A name as it is looked up: lower case, ``_`` and spaces as hyphens, no extra hyphens."""
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


_BY_KEY: dict[str, Painting] = {_key(alias): p for p in PAINTINGS for alias in (p.name, *p.aliases)}


def painting_names() -> list[str]:
    """The names of the built-in paintings, in catalogue order."""
    return [p.name for p in PAINTINGS]


def find_painting(name: str) -> Painting | None:
    """The built-in painting called ``name`` (or one of its aliases), or None.

    Case, ``_`` and spaces don't matter: ``"Starry_Night"`` finds ``starry-night``.
    """
    return _BY_KEY.get(_key(name))


def _unknown(name: str, role: str) -> RestyleError:
    noun = role if "image" in role else f"{role} image"
    return RestyleError(
        f"{noun} not found: {_show(name)} (not a file, nor a built-in painting: "
        f"{', '.join(painting_names())})"
    )


def get_painting(name: str) -> Painting:
    """The built-in painting called ``name``.

    Raises:
        RestyleError: If there is none; the one-line message lists the built-in names.
    """
    painting = find_painting(name)
    if painting is None:
        raise RestyleError(
            f"unknown built-in painting {_show(name)}; the built-in paintings are "
            f"{', '.join(painting_names())}"
        )
    return painting


def load_painting(name: str) -> Image.Image:
    """Read the built-in painting called ``name`` (or one of its aliases).

    Returns:
        A new 8-bit ``RGB`` image.

    Raises:
        RestyleError: If there is no such painting; the message lists the built-in names.

    Example:
        >>> load_painting("starry-night").size
        (896, 560)
    """
    return get_painting(name).load()


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):  # e.g. an embedded NUL byte
        return False


def _exists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError):
        return False


def resolve_style(source: ImageSource, *, role: str = "style image") -> Image.Image:
    """Load a style image: a file, a built-in painting's name, a PIL image or an array.

    A path to an existing file wins over a built-in name. A string that is not a file but names
    a built-in painting loads that painting. Anything else goes to
    :func:`~restyle.media.image.load_image`.

    Args:
        source: A path, a built-in painting's name, a PIL image or a NumPy array.
        role: What the image is for, used in error messages (``"style image 2"``).

    Returns:
        A new 8-bit ``RGB`` image.

    Raises:
        RestyleError: With a one-line message; for a string that is neither an existing path
            nor a built-in name, the message lists the built-in names.
    """
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if not _is_file(text):
            painting = find_painting(text)
            if painting is not None:
                return painting.load()
            if not _exists(text):
                raise _unknown(text, role)
    return load_image(source, role=role)
