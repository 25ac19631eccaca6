"""End to end with the real VGG19 at small sizes: the result takes on the painting's style
while keeping the photo's content. Slow-ish (tens of seconds)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch
from PIL import Image
from tools.shared import IMAGES as SHARED_IMAGES

from restyle import Settings, stylize
from restyle.media.image import load_image, resize, to_tensor
from restyle.net.vgg import build_network
from restyle.net.weights import load_weights
from restyle.objective.terms import content_loss, gram, style_layer_loss

pytestmark = pytest.mark.slow

SIZE = 128


@lru_cache(maxsize=1)
def _inputs() -> tuple[Image.Image, Image.Image]:
    if SHARED_IMAGES.is_dir():
        content = load_image(SHARED_IMAGES / "content" / "tubingen.jpg")
        style = load_image(SHARED_IMAGES / "style" / "starry_night.jpg")
    else:  # a user's clone has no ../shared: use the built-in example
        from restyle.media.examples import example_images

        content, style = example_images()
    return content, style


def _distances(img: Image.Image, content: Image.Image, style: Image.Image) -> tuple[float, float]:
    """(content distance to the photo, style distance to the painting) at the paper's layers."""
    s = Settings()
    net = build_network(last_layer="relu5_1")
    w, h = img.size
    with torch.no_grad():
        f = net(to_tensor(img), [*s.content_layers, *s.style_layers])
        p = net(to_tensor(resize(content, w, h)), s.content_layers)
        a = net(to_tensor(resize(style, w, h)), s.style_layers)
        c = sum(float(content_loss(f[k], p[k])) for k in s.content_layers)
        st = sum(float(style_layer_loss(gram(f[k]), gram(a[k]))) for k in s.style_layers)
    return c, st


def test_bundled_weights_are_vgg19() -> None:
    w = load_weights("bundled")
    assert w.convs["conv1_1"][0].shape == (64, 3, 3, 3)
    assert w.convs["conv5_4"][0].shape == (512, 512, 3, 3)
    assert w.convention.order == (2, 1, 0) and w.convention.scale == 255.0


def test_normalised_filters_have_mean_activation_one() -> None:
    from restyle.net.vgg import reference_images

    net = build_network(last_layer="relu5_1")
    layers = ["relu1_1", "relu3_1", "relu5_1"]
    sums = {k: 0.0 for k in layers}
    count = {k: 0 for k in layers}
    with torch.no_grad():
        for img in reference_images(128)[:3]:
            out = net(img, layers)
            for k in layers:
                sums[k] += float(out[k].mean(dim=(0, 2, 3)).median())
                count[k] += 1
    for k in layers:
        assert 0.3 < sums[k] / count[k] < 3.0, (k, sums[k] / count[k])


def test_result_has_the_style_and_keeps_the_content() -> None:
    content, style = _inputs()
    out = stylize(content, style, size=SIZE, iterations=120)
    c_out, s_out = _distances(out, content, style)
    photo = resize(content, *out.size)
    c_photo, s_photo = _distances(photo, content, style)
    c_paint, _ = _distances(resize(style, *out.size), content, style)
    assert s_out < 0.2 * s_photo, (s_out, s_photo)  # far closer to the painting's style
    assert c_out < 0.5 * c_paint, (c_out, c_paint)  # far closer to the photo's content
    assert c_photo == 0.0


def test_cpu_runs_are_bit_identical() -> None:
    content, style = _inputs()
    s = Settings(size=64, iterations=20, init="noise", seed=3)
    a = np.asarray(stylize(content, style, s))
    b = np.asarray(stylize(content, style, s))
    assert np.array_equal(a, b)
