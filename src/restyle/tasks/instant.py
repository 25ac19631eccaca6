"""Instant style transfer: any painting, one forward pass (Ghiasi et al. 2017).

The photo is painted by the networks of :mod:`restyle.net.arbitrary` at the output's own size,
with the settings the optimisation uses where they apply: the output size (``size``, ``width``,
``height``), several paintings blended by ``style_blend`` (here: their embeddings are averaged
with those weights), ``color`` (``luminance``: the networks see the photo's and the paintings'
luminance only and the result keeps the photo's colours; ``histogram``: each painting's colours
are matched to the photo's first) and ``device``. The objective's settings (layers, weights,
iterations ...) and ``precision`` (the networks run in float32) do not apply.

Style strength follows the paper: the embedding is interpolated between the photo's own
embedding (strength 0) and the paintings' (strength 1).
"""

from __future__ import annotations

import math

import torch
from PIL import Image

from .. import color
from ..config import Settings
from ..device import resolve_device
from ..errors import RestyleError
from ..media.image import resize, to_pil, to_tensor
from ..net.arbitrary import MIN_SIDE, STYLE_SIZE, mix_embeddings, style_embedding, stylize
from ..optim.schedule import output_size

__all__ = ["instant"]


def _predictor_view(img: Image.Image) -> Image.Image:
    """The painting's central square at the predictor's input size (what the network sees)."""
    side = min(img.width, img.height)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return resize(img.crop((left, top, left + side, top + side)), STYLE_SIZE, STYLE_SIZE)


def instant(
    content: Image.Image,
    styles: list[Image.Image],
    settings: Settings,
    *,
    strength: float = 1.0,
) -> Image.Image:
    """Paint ``content`` in the style of ``styles`` with one forward pass.

    Args:
        content: The photo (RGB).
        styles: One or more paintings (RGB); blended by ``settings.style_blend``.
        settings: Output size, ``style_blend``, ``color`` and ``device`` are used.
        strength: From 0 (the photo's own style) to 1 (the paintings' style).

    Returns:
        The painted photo at the size ``settings`` asks for.

    Raises:
        RestyleError: If no painting is given, the blend weights do not match the paintings,
            ``strength`` is not between 0 and 1, the output would be smaller than 16 px on a
            side, or the networks' weights are missing.

    Example:
        >>> from PIL import Image
        >>> photo = Image.new("RGB", (300, 200), (90, 140, 200))
        >>> painting = Image.new("RGB", (120, 160), (200, 120, 40))
        >>> instant(photo, [painting], Settings(size=96)).size
        (96, 64)
    """
    if not styles:
        raise RestyleError("at least one style image is needed")
    blend = settings.style_blend or (1.0,) * len(styles)
    if len(blend) != len(styles):
        raise RestyleError(f"{len(blend)} style blend weights given for {len(styles)} style images")
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not math.isfinite(strength)
        or not 0.0 <= strength <= 1.0
    ):
        raise RestyleError(f"strength must be a number from 0 to 1, got {strength!r}")
    width, height = output_size(
        content.width, content.height, settings.size, settings.width, settings.height
    )
    if min(width, height) < MIN_SIDE:
        raise RestyleError(
            f"output of {width}x{height} px is too small for the fast style network; it needs "
            f"at least {MIN_SIDE} px on each side"
        )
    device = resolve_device(settings.device)
    photo = to_tensor(resize(content, width, height)).to(device)
    paintings = [to_tensor(_predictor_view(s)).to(device) for s in styles]
    seen = photo
    if settings.color == "histogram":
        paintings = [color.match_histogram(p, photo) for p in paintings]
    elif settings.color == "luminance":
        seen = color.grey_rgb(color.luminance(photo))
        paintings = [color.match_luminance(p, photo) for p in paintings]
    with torch.no_grad():
        embedding = mix_embeddings([style_embedding(p) for p in paintings], blend)
        if strength < 1.0:
            own = style_embedding(seen)
            embedding = mix_embeddings([embedding, own], [strength, 1.0 - strength])
        out = stylize(seen, embedding)
        if settings.color == "luminance":
            out = color.combine_luminance(out, photo)
    return to_pil(out)
