"""Output size, the coarse-to-fine scales and the share of steps each scale gets."""

from __future__ import annotations

import itertools
import math

import pytest

from restyle.config import Settings
from restyle.errors import RestyleError
from restyle.optim.schedule import (
    FINAL_WORK_SHARE,
    MIN_LAST_STEP,
    output_size,
    scale_sizes,
    split_iterations,
    style_size,
)

SIZES = [(512, 384), (384, 512), (500, 500), (577, 433), (1024, 768), (200, 150), (4096, 3072)]


def test_output_size_follows_the_longest_side_or_the_given_sides() -> None:
    assert output_size(1024, 768, 512) == (512, 384)
    assert output_size(768, 1024, 512) == (384, 512)
    assert output_size(1024, 768, 512, width=300) == (300, 225)
    assert output_size(1024, 768, 512, height=300) == (400, 300)
    assert output_size(1024, 768, 512, width=100, height=100) == (100, 100)
    with pytest.raises(RestyleError):
        output_size(0, 10, 512)


@pytest.mark.parametrize(("w", "h"), SIZES)
def test_scales_grow_by_root_two_from_the_minimum_to_the_output(w: int, h: int) -> None:
    sizes = scale_sizes(w, h, 128)
    assert sizes[-1] == (w, h)
    assert max(sizes[0]) == 128
    longest = [max(s) for s in sizes]
    for a, b in itertools.pairwise(longest[:-1]):
        assert b / a == pytest.approx(math.sqrt(2), rel=0.01)
    last_step = longest[-1] / longest[-2]
    assert MIN_LAST_STEP - 0.01 <= last_step <= MIN_LAST_STEP * math.sqrt(2) + 0.01
    for sw, sh in sizes:  # the output's aspect ratio, to a pixel
        assert abs(sw / sh - w / h) <= 1.0 / min(sw, sh) + 1e-9


def test_500_px_gets_the_362_px_scale() -> None:
    assert [max(s) for s in scale_sizes(500, 500)] == [128, 181, 256, 362, 500]
    assert [max(s) for s in scale_sizes(512, 384)] == [128, 181, 256, 362, 512]


def test_one_scale_when_asked_or_when_the_output_is_small() -> None:
    assert scale_sizes(512, 384, multiscale=False) == [(512, 384)]
    assert scale_sizes(181, 120) == [(181, 120)]
    assert scale_sizes(100, 80) == [(100, 80)]
    assert len(scale_sizes(200, 150)) == 2


@pytest.mark.parametrize(("w", "h"), SIZES)
@pytest.mark.parametrize("total", [1, 3, 10, 100, 300, 1000])
def test_steps_add_up_and_coarse_ones_go_where_they_are_cheap(w: int, h: int, total: int) -> None:
    sizes = scale_sizes(w, h)
    steps = split_iterations(total, sizes)
    assert len(steps) == len(sizes)
    assert all(n >= 1 for n in steps)
    if total >= len(sizes):
        assert sum(steps) == total
        # never more steps on a larger coarse scale
        assert steps[:-1] == sorted(steps[:-1], reverse=True)
    else:
        assert steps == [1] * len(sizes)


def _work(steps: list[int], sizes: list[tuple[int, int]]) -> float:
    """A run's work in steps at the output size (a step costs in proportion to its pixels)."""
    pixels = [w * h for w, h in sizes]
    return sum(n * p for n, p in zip(steps, pixels, strict=True)) / pixels[-1]


@pytest.mark.parametrize(("w", "h"), [(512, 384), (400, 300), (1024, 768), (4096, 3072)])
def test_output_scale_does_three_quarters_of_the_work(w: int, h: int) -> None:
    sizes = scale_sizes(w, h)
    steps = split_iterations(120, sizes)
    assert steps[-1] / _work(steps, sizes) == pytest.approx(FINAL_WORK_SHARE, abs=0.05)
    assert steps[:-1] == sorted(steps[:-1], reverse=True)  # coarse steps go where they are cheap


def test_default_run_takes_a_third_of_its_steps_at_512_px_for_less_work_than_before() -> None:
    sizes = scale_sizes(512, 384)
    steps = split_iterations(Settings().iterations, sizes)
    assert [w for w, _ in sizes] == [128, 181, 256, 362, 512]
    assert steps == [30, 22, 15, 11, 42]
    # the split before this one: 300 steps, 27 of them at 512 px, 75 steps' worth of work
    assert _work(steps, sizes) < 60


def test_large_output_keeps_few_steps_at_full_size() -> None:
    sizes = scale_sizes(4096, 3072)
    steps = split_iterations(120, sizes)
    assert steps[-1] <= 10  # a 4096-px step costs 64 of 512 px's
    assert _work(steps, sizes) < 12


def test_single_scale_gets_every_step() -> None:
    assert split_iterations(300, [(512, 384)]) == [300]


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_style_image_gets_the_output_pixel_count_times_scale_squared(scale: float) -> None:
    sw, sh = style_size(1024, 640, 512, 384, scale)
    assert sw * sh == pytest.approx(512 * 384 * scale * scale, rel=0.01)
    assert sw / sh == pytest.approx(1024 / 640, rel=0.01)
