"""Built-in images the page offers: the example pair, and paintings from a folder if there is one.

The browser picks examples by name from a fixed list; it never names a file, so no request can
make the server read a path of its choosing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from ..errors import RestyleError
from .jobs import NamedImage, shrink

#: Image files a style folder may hold.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
#: Most paintings offered from a folder.
MAX_FOLDER_STYLES = 32

EXAMPLE_PHOTO = "Chelsea the cat (built-in)"
EXAMPLE_STYLE = "Micrograph (built-in)"


def default_style_folder() -> Path | None:
    """The project's shared paintings (``../shared/images/style`` beside a source checkout).

    Returns:
        The folder if this package runs from a checkout that has it beside it, else None.
    """
    # src/restyle/web/examples.py -> the checkout is three folders up from this package.
    here = Path(__file__).resolve()
    if len(here.parents) < 4:
        return None
    folder = here.parents[3].parent / "shared" / "images" / "style"
    return folder if folder.is_dir() else None


def _title(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip().title() or path.name


def _builtin_pair() -> tuple[Image.Image, Image.Image]:
    from ..media.examples import example_images

    return example_images()


class Catalogue:
    """The examples, by name, loaded on first use and kept.

    Args:
        style_folder: A folder of paintings to offer as well (None: only the built-in style).
        pair: Loads the built-in (photo, style) pair; default :mod:`restyle.cli.example`.
    """

    def __init__(
        self,
        style_folder: str | Path | None = None,
        pair: Callable[[], tuple[Image.Image, Image.Image]] = _builtin_pair,
    ) -> None:
        self._pair_loader = pair
        self._pair: tuple[Image.Image, Image.Image] | None = None
        self._files: dict[str, Path] = {}
        self._cache: dict[str, NamedImage] = {}
        self._lock = threading.Lock()
        if style_folder is not None:
            folder = Path(style_folder)
            files = sorted(
                f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
            )
            for f in files[:MAX_FOLDER_STYLES]:
                self._files.setdefault(_title(f), f)

    @property
    def style_names(self) -> list[str]:
        """Names of the styles on offer, the built-in one first."""
        return [EXAMPLE_STYLE, *self._files]

    def _builtin(self) -> tuple[Image.Image, Image.Image]:
        if self._pair is None:
            self._pair = self._pair_loader()
        return self._pair

    def photo(self) -> NamedImage:
        """The built-in content photo."""
        with self._lock:
            if EXAMPLE_PHOTO not in self._cache:
                img = self._builtin()[0].convert("RGB")
                self._cache[EXAMPLE_PHOTO] = NamedImage(EXAMPLE_PHOTO, shrink(img))
            return self._cache[EXAMPLE_PHOTO]

    def style(self, name: str) -> NamedImage:
        """The style called ``name``.

        Raises:
            RestyleError: If there is no such style, or its file cannot be loaded.
        """
        from ..media.image import load_image

        with self._lock:
            if name not in self._cache:
                if name == EXAMPLE_STYLE:
                    img = self._builtin()[1].convert("RGB")
                elif name in self._files:
                    img = load_image(self._files[name], role="style image")
                else:
                    raise RestyleError(f"unknown built-in style {name!r}")
                self._cache[name] = NamedImage(name, shrink(img))
            return self._cache[name]

    def styles(self, names: Sequence[str] | None) -> list[NamedImage]:
        """The styles called ``names`` (None or empty: none)."""
        return [self.style(n) for n in names or []]
