"""The public entry points: :func:`stylize` and its streaming form :func:`stylize_iter`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from .config import Settings
from .media.image import ImageSource, load_image
from .tasks.stylize import StyleRun


def _styles(style: ImageSource | Sequence[ImageSource]) -> list[Image.Image]:
    """Load the style images: files, built-in paintings by name (``"starry-night"``), PIL
    images or arrays."""
    from .media.paintings import resolve_style

    if isinstance(style, (str, bytes)) or not isinstance(style, Sequence):
        style = [style]
    many = len(style) > 1
    return [
        resolve_style(s, role=f"style image {i + 1}" if many else "style image")
        for i, s in enumerate(style)
    ]


def stylize_iter(
    content: ImageSource | None,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    **overrides: Any,
) -> StyleRun:
    """Prepare a run that yields :class:`~restyle.optim.progress.Progress` as it goes.

    Args:
        content: the photo (path, PIL image or HxWx3 array), or None for texture synthesis.
        style: one painting, or a list of them (blended by ``settings.style_blend``).
        settings: run settings; defaults to :class:`~restyle.config.Settings`.
        **overrides: fields of :class:`Settings` to change, e.g. ``size=256``.

    Returns:
        A :class:`~restyle.tasks.stylize.StyleRun`: iterate over it, and call ``.image()`` whenever
        you want the current picture (also after an interruption).

    Example:
        >>> run = stylize_iter("photo.jpg", "painting.jpg", size=256)  # doctest: +SKIP
        >>> for p in run:  # doctest: +SKIP
        ...     print(p.total_step, p.losses["total"])
        >>> run.image().save("out.png")  # doctest: +SKIP
    """
    s = settings or Settings()
    if overrides:
        s = s.replace(**overrides)
    c = None if content is None else load_image(content, role="content image")
    return StyleRun(c, _styles(style), s)


def stylize(
    content: ImageSource | None,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    **overrides: Any,
) -> Image.Image:
    """Repaint ``content`` in the style of ``style`` (Gatys et al. 2016) and return the image.

    Arguments as for :func:`stylize_iter`.

    Example:
        >>> from restyle import stylize  # doctest: +SKIP
        >>> stylize("photo.jpg", "starry_night.jpg", size=384).save("out.png")  # doctest: +SKIP
    """
    return stylize_iter(content, style, settings, **overrides).run()
