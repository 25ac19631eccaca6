"""Colour preservation: luminance-only transfer and colour histogram matching."""

from __future__ import annotations

import torch

from restyle import color
from restyle.media.image import to_tensor

from .conftest import painting, photo


def test_yiq_round_trip() -> None:
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(color.yiq_to_rgb(color.rgb_to_yiq(x)), x, atol=1e-5, rtol=1e-5)


def test_combine_keeps_content_chroma_and_new_luminance() -> None:
    content = to_tensor(photo())
    lum = color.grey_rgb(torch.full_like(content[:, :1], 0.5))
    out = color.combine_luminance(lum, content)
    yiq_out, yiq_c = color.rgb_to_yiq(out), color.rgb_to_yiq(content)
    # chroma of the content survives wherever clamping to [0, 1] did not bite
    inside = ((out > 0.001) & (out < 0.999)).all(dim=1, keepdim=True).expand(-1, 2, -1, -1)
    torch.testing.assert_close(yiq_out[:, 1:][inside], yiq_c[:, 1:][inside], atol=2e-3, rtol=0)
    assert (yiq_out[:, :1] - 0.5).abs().mean() < 0.02


def test_match_luminance_takes_content_mean_and_spread() -> None:
    s, c = to_tensor(painting()), to_tensor(photo())
    m = color.match_luminance(s, c)
    assert m.shape == s.shape and torch.equal(m[:, 0], m[:, 1])
    lc = color.luminance(c)
    assert abs(float(m[:, :1].mean() - lc.mean())) < 1e-4
    assert abs(float(m[:, :1].std() - lc.std())) < 1e-4


def test_histogram_matching_gives_content_mean_and_covariance() -> None:
    s = torch.rand(1, 3, 64, 64) * 0.3 + 0.2
    c = to_tensor(photo(64, 64))
    matched = color.match_histogram(s, c)

    def stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = t[0].reshape(3, -1).double()
        return x.mean(1), torch.cov(x, correction=0)

    (ms, cs), (mc, cc) = stats(matched), stats(c)
    torch.testing.assert_close(ms, mc, atol=0.03, rtol=0)
    torch.testing.assert_close(cs, cc, atol=0.01, rtol=0)


def test_colour_functions_treat_each_image_of_a_batch_alone() -> None:
    styles = torch.cat([to_tensor(painting(seed=s)) for s in (2, 3, 4)])
    contents = torch.cat([to_tensor(photo(40, 40, seed=s)) for s in (1, 5, 6)])
    for fn in (color.match_histogram, color.match_luminance, color.combine_luminance):
        batch = fn(styles, contents)
        assert batch.shape == styles.shape
        for i in range(3):
            one = fn(styles[i : i + 1], contents[i : i + 1])
            torch.testing.assert_close(batch[i : i + 1], one, atol=1e-6, rtol=0)
    # one content image for a whole batch of styles
    shared = color.match_histogram(styles, contents[:1])
    torch.testing.assert_close(shared[2:], color.match_histogram(styles[2:], contents[:1]))


def test_palette_gives_the_paintings_colours_and_keeps_the_layout() -> None:
    """init="palette": the photo takes the painting's mean and covariance (a mixture of them
    for a blend), and its luminance still follows the photo's, pixel by pixel."""
    c = to_tensor(photo(64, 64))
    dark = torch.rand(1, 3, 50, 40) * 0.3 + 0.1
    bright = torch.rand(1, 3, 30, 30) * 0.2 + 0.7

    def stats(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = t.permute(1, 0, 2, 3).reshape(3, -1).double()
        return x.mean(1), torch.cov(x, correction=0)

    one = color.match_palette(c, [dark], [1.0])
    torch.testing.assert_close(stats(one)[0], stats(dark)[0], atol=0.02, rtol=0)
    torch.testing.assert_close(stats(one)[1], stats(dark)[1], atol=0.005, rtol=0)
    lum = torch.stack([color.luminance(one).flatten(), color.luminance(c).flatten()])
    assert torch.corrcoef(lum)[0, 1] > 0.9
    # a blend of two paintings: the statistics of all their pixels, each counted by weight
    mixed = color.match_palette(c, [dark, bright], [3.0, 1.0])
    pooled = torch.cat(
        [dark.reshape(1, 3, -1).repeat(1, 1, 27), bright.reshape(1, 3, -1).repeat(1, 1, 20)], dim=2
    )  # 27 x 2000 dark pixels for 20 x 900 bright ones: weights 3 : 1
    torch.testing.assert_close(stats(mixed)[0], stats(pooled[..., None])[0], atol=0.03, rtol=0)
    # the weights count, not how many pixels a painting has
    torch.testing.assert_close(color.match_palette(c, [dark, bright], [1.0, 0.0]), one)
