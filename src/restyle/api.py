"""The public entry points: :func:`stylize` and its streaming form :func:`stylize_iter`."""

from __future__ import annotations

import os
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from .config import Settings
from .media.image import ImageSource, load_image
from .tasks.stylize import StyleRun

if TYPE_CHECKING:
    from .tasks.video import VideoProgress


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
    *,
    masks: Sequence[ImageSource] | None = None,
    style_masks: Sequence[ImageSource | None] | None = None,
    coarse_style: ImageSource | None = None,
    **overrides: Any,
) -> StyleRun:
    """Prepare a run that yields :class:`~restyle.optim.progress.Progress` as it goes.

    Args:
        content: the photo (path, PIL image or HxWx3 array), or None for texture synthesis.
        style: one painting, or a list of them (blended by ``settings.style_blend``).
        settings: run settings; defaults to :class:`~restyle.config.Settings`.
        masks: spatial control (Gatys et al. 2017): one greyscale mask per painting, any size
            (white: that painting goes here); pixels no mask covers stay the photo. For a
            colour-coded label image see :func:`restyle.media.masks.label_masks`.
        style_masks: with ``masks``: a mask on each painting (or None), the part of it that
            gives its region the style.
        coarse_style: scale control: a painting whose large-scale structure (the style layers
            not in ``settings.fine_layers``) goes with ``style``'s fine strokes.
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
    styles = _styles(style)
    if masks is None and style_masks is None and coarse_style is None:
        return StyleRun(c, styles, s)
    from .media.masks import check_mask, load_masks
    from .media.paintings import resolve_style

    region_masks = None
    if masks is not None:
        many = style if isinstance(style, Sequence) and not isinstance(style, str) else [style]
        names = [
            os.fspath(x) if isinstance(x, (str, os.PathLike)) else f"style image {i + 1}"
            for i, x in enumerate(many)
        ]
        region_masks = load_masks(list(masks), len(styles), names=names)
    painting_masks: list[Image.Image | None] | None = None
    if style_masks is not None:
        painting_masks = [
            None if m is None else check_mask(load_image(m, role=r), r)
            for m, r in ((m, f"style image mask {i + 1}") for i, m in enumerate(style_masks))
        ]
    coarse = None
    if coarse_style is not None:
        coarse = resolve_style(coarse_style, role="coarse style image")
    return StyleRun(
        c, styles, s, masks=region_masks, style_masks=painting_masks, coarse_style=coarse
    )


def stylize(
    content: ImageSource | None,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    *,
    masks: Sequence[ImageSource] | None = None,
    style_masks: Sequence[ImageSource | None] | None = None,
    coarse_style: ImageSource | None = None,
    **overrides: Any,
) -> Image.Image:
    """Repaint ``content`` in the style of ``style`` (Gatys et al. 2016) and return the image.

    Arguments as for :func:`stylize_iter`.

    Example:
        >>> from restyle import stylize  # doctest: +SKIP
        >>> stylize("photo.jpg", "starry_night.jpg", size=384).save("out.png")  # doctest: +SKIP
    """
    return stylize_iter(
        content,
        style,
        settings,
        masks=masks,
        style_masks=style_masks,
        coarse_style=coarse_style,
        **overrides,
    ).run()


def stylize_fast(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    **overrides: Any,
) -> Image.Image:
    """Paint ``content`` in one forward pass of Ghiasi et al.'s arbitrary-style network.

    A fraction of a second instead of a minute; the picture is the network's, not the
    optimisation's. The settings that apply: the output size, ``style_blend`` (the paintings'
    embeddings are averaged), ``color``, ``device``, and ``style_strength``, which here runs
    from 0 (the photo's own style) to 1 (the painting's; the default), as the paper
    interpolates the style embedding. See :func:`restyle.tasks.instant.instant`.

    Args:
        content: The photo (path, PIL image or HxWx3 array).
        style: One painting or a list of them (files, built-in names, images).
        settings: Run settings; defaults to :class:`~restyle.config.Settings`.
        **overrides: Fields of :class:`Settings` to change, e.g. ``size=1024``.

    Raises:
        RestyleError: If ``style_strength`` is above 1, or for bad input.

    Example:
        >>> stylize_fast("photo.jpg", "starry-night", size=1024).save("out.jpg")  # doctest: +SKIP
    """
    from .errors import RestyleError
    from .tasks.instant import instant

    s = settings or Settings()
    if overrides:
        s = s.replace(**overrides)
    if s.style_strength > 1.0:
        raise RestyleError(
            "with the instant network style_strength runs from 0 (the photo) to 1 (the "
            f"painting, the default); got {s.style_strength:g}"
        )
    c = load_image(content, role="content image")
    return instant(c, _styles(style), s, strength=s.style_strength)


def stylize_video(
    input: str | os.PathLike[str],
    style: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str],
    settings: Settings | None = None,
    **overrides: Any,
) -> Generator[VideoProgress, None, None]:
    """Stylise a video without flicker (Ruder et al. 2016) into ``output``, reporting as it goes.

    A generator: iterating it does the work and yields a
    :class:`~restyle.tasks.video.VideoProgress` per optimisation step and per finished frame
    (``frame_done``, with the frame as ``image``), and a last one with ``done``. Bad input
    raises :class:`~restyle.errors.RestyleError` at the first ``next()``. Closing it early
    (or Ctrl-C) finalises the output with the frames done; they stay in the work folder, and
    ``resume=True`` goes on from them.

    Args:
        input: A video file, or a folder of PNG/JPEG frames.
        style: One painting, or a list of them (as for :func:`stylize_iter`).
        output: ``.mp4`` (H.264), ``.mov``, ``.mkv``, ``.webm``, ``.gif``, or a folder of PNG
            frames; the input's audio is carried over where the format has audio.
        settings: Run settings (every still-image setting applies, plus
            ``temporal_weight``); defaults to :class:`~restyle.config.Settings`.
        **overrides: Fields of :class:`Settings` (e.g. ``size=384``) or of
            :class:`~restyle.tasks.video.VideoOptions` (e.g. ``duration=2``,
            ``frame_iterations=40``, ``resume=True``).

    Example:
        >>> for p in stylize_video("clip.mp4", "starry-night", "out.mp4",
        ...                        size=320, duration=2):  # doctest: +SKIP
        ...     if p.frame_done:
        ...         print(f"frame {p.frames_done}/{p.frames}, {p.eta:.0f} s left")
    """
    import dataclasses

    from .tasks.video import VideoOptions, stylize_video_frames

    option_names = {f.name for f in dataclasses.fields(VideoOptions)}
    options = VideoOptions(**{k: v for k, v in overrides.items() if k in option_names})
    changes = {k: v for k, v in overrides.items() if k not in option_names}
    s = settings or Settings()
    if changes:
        s = s.replace(**changes)
    yield from stylize_video_frames(input, _styles(style), output, s, options)
