"""What the page offers ready-made: the example photo, the built-in paintings, and the paintings
of a folder if the app was given one.

The built-in paintings ship inside restyle (:mod:`restyle.media.paintings`), so a pip-installed
app offers them too. The browser picks styles by name from a fixed list; it never names a file,
so no request can make the server read a path of its choosing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from ..errors import RestyleError
from ..media.examples import EXAMPLE_PAINTING, PHOTO_TITLE
from ..media.image import IMAGE_SUFFIXES
from ..media.paintings import PAINTINGS, Painting, find_painting, get_painting
from .jobs import NamedImage, shrink

#: Image files a style folder may hold.
#: Most paintings offered from a folder.
MAX_FOLDER_STYLES = 32
#: Longest side of the thumbnails shown for the styles on offer.
THUMBNAIL_SIDE = 192

EXAMPLE_PHOTO = f"{PHOTO_TITLE} (built-in)"
#: The name on the page of the example's painting.
EXAMPLE_STYLE = get_painting(EXAMPLE_PAINTING).label


def _title(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().title() or path.name


def _example_photo() -> Image.Image:
    from ..media.examples import example_photo

    return example_photo()


class Catalogue:
    """The photo and styles on offer, by name, loaded on first use and kept.

    Args:
        style_folder: A folder of paintings to offer after the built-in ones (None: none).
        photo: Loads the example photo (default: scikit-image's, see
            :mod:`restyle.media.examples`).
        paintings: The built-in paintings to offer (default: all of them).
    """

    def __init__(
        self,
        style_folder: str | Path | None = None,
        photo: Callable[[], Image.Image] = _example_photo,
        paintings: Sequence[Painting] = PAINTINGS,
    ) -> None:
        self._photo_loader = photo
        self._paintings: dict[str, Painting] = {p.label: p for p in paintings}
        self._files: dict[str, Path] = {}
        self._cache: dict[str, NamedImage] = {}
        self._thumbnails: list[tuple[Image.Image, str]] | None = None
        self._lock = threading.Lock()
        if style_folder is not None:
            folder = Path(style_folder)
            files = sorted(
                f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
            )
            for f in files[:MAX_FOLDER_STYLES]:
                if _title(f) not in self._paintings:
                    self._files.setdefault(_title(f), f)

    @property
    def style_names(self) -> list[str]:
        """Names of the styles on offer: the built-in paintings, then the folder's."""
        return [*self._paintings, *self._files]

    def photo(self) -> NamedImage:
        """The example photo."""
        with self._lock:
            if EXAMPLE_PHOTO not in self._cache:
                img = self._photo_loader().convert("RGB")
                self._cache[EXAMPLE_PHOTO] = NamedImage(EXAMPLE_PHOTO, shrink(img))
            return self._cache[EXAMPLE_PHOTO]

    def _canonical(self, name: str) -> str:
        """``name`` as listed in :attr:`style_names`; a built-in painting may also be given by
        its short name (``starry-night``)."""
        if name in self._paintings or name in self._files:
            return name
        painting = find_painting(name)
        if painting is not None and painting.label in self._paintings:
            return painting.label
        raise RestyleError(f"unknown built-in style {name!r}")

    def style(self, name: str) -> NamedImage:
        """The style called ``name`` (a name from :attr:`style_names`, or a built-in
        painting's short name).

        Raises:
            RestyleError: If there is no such style, or its file cannot be loaded.
        """
        from ..media.image import load_image

        with self._lock:
            key = self._canonical(name)
            if key not in self._cache:
                if key in self._paintings:
                    img = self._paintings[key].load()
                else:
                    img = load_image(self._files[key], role="style image")
                self._cache[key] = NamedImage(key, shrink(img))
            return self._cache[key]

    def styles(self, names: Sequence[str] | None) -> list[NamedImage]:
        """The styles called ``names`` (None or empty: none)."""
        return [self.style(n) for n in names or []]

    def thumbnails(self) -> list[tuple[Image.Image, str]]:
        """A small picture of each style on offer, with its name, in the order of
        :attr:`style_names`; a folder file that cannot be loaded is left out."""
        if self._thumbnails is None:
            thumbs: list[tuple[Image.Image, str]] = []
            for name in self.style_names:
                try:
                    img = self.style(name).image
                except RestyleError:
                    continue
                thumbs.append((shrink(img, THUMBNAIL_SIDE), name))
            self._thumbnails = thumbs
        return list(self._thumbnails)
