"""Shared fixtures: a tiny random-weight VGG19 so unit tests run in milliseconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restyle.config import CONV_NAMES
from restyle.net.cache import NetworkCache, set_default_cache
from restyle.net.vgg import VGGFeatures
from restyle.net.weights import ConvWeights

#: Channels per block of the tiny network (VGG19 has 64, 128, 256, 512, 512).
TINY_WIDTHS = {"1": 4, "2": 6, "3": 8, "4": 8, "5": 8}


def tiny_convs(seed: int = 0, dtype: torch.dtype = torch.float32) -> ConvWeights:
    """Random VGG19-shaped convolutions with few channels (He-initialised, small biases)."""
    gen = torch.Generator().manual_seed(seed)
    convs: ConvWeights = {}
    cin = 3
    for name in CONV_NAMES:
        cout = TINY_WIDTHS[name[4]]
        w = torch.randn(cout, cin, 3, 3, generator=gen, dtype=dtype) * (2.0 / (9 * cin)) ** 0.5
        b = torch.rand(cout, generator=gen, dtype=dtype) * 0.1
        convs[name] = (w, b)
        cin = cout
    return convs


@pytest.fixture
def tiny_net() -> VGGFeatures:
    """A tiny VGG19 (average pooling) cut after relu5_4."""
    return VGGFeatures(tiny_convs(), "avg", "relu5_4")


def tiny_builder(
    source: str = "bundled",
    pooling: str = "avg",
    last_layer: str = "relu5_1",
    device: torch.device | str = "cpu",
    normalize: bool = True,
    *,
    padding: str = "replicate",
) -> VGGFeatures:
    """Builds the tiny network in place of VGG19 (a :class:`restyle.net.cache.Builder`)."""
    return VGGFeatures(tiny_convs(), pooling, last_layer).to(device)


@pytest.fixture
def use_tiny_net() -> Iterator[None]:
    """Make every run in the test use the tiny network instead of the real VGG19."""

    old = set_default_cache(NetworkCache(tiny_builder))
    yield
    set_default_cache(old)


def photo(width: int = 48, height: int = 32, seed: int = 1) -> Image.Image:
    """A smooth synthetic 'photo': gradients plus a few blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    img = np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x + 3 * y)], axis=-1)
    for _ in range(3):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 0.3)
        img[((x - cx) ** 2 + (y - cy) ** 2) < r * r] = rng.uniform(0, 1, 3)
    return Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8))


def painting(width: int = 40, height: int = 40, seed: int = 2) -> Image.Image:
    """A busy synthetic 'painting': coloured stripes and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    stripes = (np.sin(x * 0.9 + y * 0.4)[..., None] * rng.uniform(0.3, 1, 3)) * 0.5 + 0.5
    img = 0.7 * stripes + 0.3 * rng.uniform(0, 1, (height, width, 3))
    return Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8))


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, with the file closed again."""
    with Image.open(path) as img:
        return img.size


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    """A content photo and two style images written as files."""
    paths = {
        "content": tmp_path / "photo.png",
        "style": tmp_path / "style.png",
        "style2": tmp_path / "style2.jpg",
    }
    photo().save(paths["content"])
    painting().save(paths["style"])
    painting(seed=5).save(paths["style2"])
    return paths


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest on one thread (and do not wait on a busy machine's others)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
