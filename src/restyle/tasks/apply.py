"""Paint photos with a feed-forward network: a trained model file, or the arbitrary network
with a painting.

A *model spec* names the network:

* a path to a model file written by ``restyle train`` (:func:`restyle.tasks.train.load_model`);
* ``arbitrary:STYLE``: Ghiasi et al.'s arbitrary-style network (:mod:`restyle.tasks.instant`)
  with ``STYLE`` a painting file or a built-in painting's name, e.g. ``arbitrary:starry-night``.

:func:`open_model` reads either once; :meth:`Painter.paint` then paints one photo at the size
the :class:`~restyle.config.Settings` ask for, and :meth:`Painter.method` says what the output's
metadata records about it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .. import color
from ..config import Settings
from ..device import resolve_device
from ..errors import RestyleError
from ..media.image import IMAGE_SUFFIXES, resize, to_pil, to_tensor
from ..net.transformer import MIN_SIDE, TransformerNet
from ..optim.schedule import output_size

__all__ = [
    "ARBITRARY_PREFIX",
    "IMAGE_SUFFIXES",
    "Painter",
    "expand_photos",
    "instant_method",
    "open_model",
]

#: The prefix of a model spec that names the arbitrary-style network with a painting.
ARBITRARY_PREFIX = "arbitrary:"


def instant_method(strength: float) -> dict[str, Any]:
    """What an output of the arbitrary-style network records about how it was made."""
    return {
        "method": "instant",
        "network": "arbitrary (Ghiasi et al. 2017, Magenta's weights)",
        "strength": strength,
    }


@dataclass
class Painter:
    """A feed-forward network ready to paint photos (see :func:`open_model`).

    Attributes:
        spec: The model spec it was opened from.
        net: A trained transformer, or None for the arbitrary network.
        styles: The painting (arbitrary network), else empty.
        info: The model file's facts (trained model), else empty.
    """

    spec: str
    net: TransformerNet | None
    styles: list[Image.Image]
    info: dict[str, Any]

    def method(self, settings: Settings) -> dict[str, Any]:
        """What an output's metadata records about the network."""
        if self.net is None:
            return instant_method(min(settings.style_strength, 1.0))
        return {
            "method": "model",
            "network": "transformer (Johnson et al. 2016, trained by restyle)",
            "model": os.path.basename(self.spec),
            "style": self.info.get("style", ""),
            "step": self.info.get("step"),
            "strength": min(settings.style_strength, 1.0),
        }

    def paint(self, photo: Image.Image, settings: Settings) -> Image.Image:
        """Paint ``photo`` at the size ``settings`` ask for.

        ``settings.style_strength`` from 0 to 1 (values above 1 count as 1) mixes the result
        with the photo for a trained model, and moves the arbitrary network's embedding from
        the photo's own toward the painting's (as the paper does). ``color="luminance"`` keeps
        the photo's colours.

        Raises:
            RestyleError: If the output would be smaller than 16 px on a side.
        """
        strength = min(settings.style_strength, 1.0)
        if self.net is None:
            from .instant import instant

            return instant(photo, self.styles, settings, strength=strength)
        w, h = output_size(photo.width, photo.height, settings.size, settings.width,
                           settings.height)  # fmt: skip
        if min(w, h) < MIN_SIDE:
            raise RestyleError(
                f"output of {w}x{h} px is too small for the network; it needs at least "
                f"{MIN_SIDE} px on each side"
            )
        device = resolve_device(settings.device)
        net = self.net.to(device)
        x = to_tensor(resize(photo, w, h)).to(device)
        with torch.no_grad():
            y = net(x)
            if strength < 1.0:
                y = torch.lerp(x, y, strength)
            if settings.color == "luminance":
                y = color.combine_luminance(y, x)
        return to_pil(y)


def open_model(spec: str) -> Painter:
    """Open a model spec: a model file, or ``arbitrary:STYLE``.

    Raises:
        RestyleError: If the file is not a usable model, or the painting cannot be read.
    """
    if spec.startswith(ARBITRARY_PREFIX):
        from ..media.paintings import resolve_style

        style = spec[len(ARBITRARY_PREFIX) :]
        if not style:
            raise RestyleError(
                "arbitrary: needs a painting, e.g. arbitrary:starry-night or arbitrary:art.jpg"
            )
        return Painter(spec, None, [resolve_style(style)], {})
    from .train import load_model

    model = load_model(spec)
    return Painter(spec, model.net, [], model.info)


def expand_photos(inputs: list[str]) -> list[Path]:
    """The photo files that ``inputs`` name: files as given, folders by their images (sorted,
    hidden files skipped, not recursive).

    Raises:
        RestyleError: If an input does not exist or a folder holds no images.
    """
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f for f in p.iterdir()
                if f.is_file() and not f.name.startswith(".")
                and f.suffix.lower() in IMAGE_SUFFIXES
            )  # fmt: skip
            if not found:
                raise RestyleError(f"folder {item} holds no images")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise RestyleError(f"input {item} does not exist")
    return out
