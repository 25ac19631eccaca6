"""Optical flow, warping, reliability and the warping error, on synthetic frames built here."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from restyle.media.flow import (
    WarpingError,
    optical_flow,
    pair_warping_error,
    reliability,
    to_grey,
    warp,
    warping_error,
)

pytest.importorskip("cv2")

SIZE = 96


def texture(height: int, width: int, seed: int, blur: float = 1.5) -> npt.NDArray[np.float32]:
    """Smooth random texture in [0, 1] (blurred noise: trackable, no repeating pattern)."""
    import cv2

    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def as_uint8(image: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def square_frames(x_prev: int, x_cur: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """A textured 32-px square on a textured background, at column x_prev then x_cur."""
    background = texture(SIZE, SIZE, 1)
    square = texture(32, 32, 2)

    def frame(x: int) -> npt.NDArray[np.uint8]:
        out = background.copy()
        out[30:62, x : x + 32] = square
        return as_uint8(out)

    return frame(x_prev), frame(x_cur)


# --------------------------------------------------------------------------------------------
# Conversions


def test_to_grey_accepts_pil_uint8_and_float() -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 1] = 200
    from_array = to_grey(rgb)
    assert from_array.shape == (4, 5) and from_array.dtype == np.uint8
    assert int(from_array[0, 0]) == round(0.587 * 200)
    assert np.array_equal(to_grey(rgb.astype(np.float32) / 255), from_array)
    assert abs(int(to_grey(Image.fromarray(rgb))[0, 0]) - int(from_array[0, 0])) <= 1
    with pytest.raises(ValueError):
        to_grey(np.zeros((4, 5, 2), dtype=np.uint8))


# --------------------------------------------------------------------------------------------
# Warping


def test_warp_integer_shift_is_exact_in_the_interior() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((40, 50, 3), dtype=np.float32)
    flow = np.zeros((40, 50, 2), dtype=np.float32)
    flow[..., 0], flow[..., 1] = 3, -2  # out(y, x) = image(y - 2, x + 3)
    out = warp(image, flow)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.array_equal(out[2:, :-3], image[:-2, 3:])


def test_warp_convention_matches_optical_flow() -> None:
    """warp(b, optical_flow(a, b)) ~ a."""
    big = as_uint8(texture(SIZE + 10, SIZE + 10, 3))
    a, b = big[5 : 5 + SIZE, 5 : 5 + SIZE], big[5 : 5 + SIZE, 2 : 2 + SIZE]  # b: moved right 3
    flow = optical_flow(a, b)
    back = warp(b.astype(np.float32), flow)
    inner = (slice(8, -8), slice(8, -8))
    assert float(np.abs(back - a)[inner].mean()) < 2.0  # grey levels
    assert float(np.abs(b.astype(np.float32) - a)[inner].mean()) > 10.0


def test_warp_half_pixel_is_bilinear_and_borders_are_clamped() -> None:
    image = np.arange(5, dtype=np.float32)[None, :].repeat(3, axis=0)  # 0 1 2 3 4 per row
    flow = np.zeros((3, 5, 2), dtype=np.float32)
    flow[..., 0] = 0.5
    assert np.allclose(warp(image, flow)[1], [0.5, 1.5, 2.5, 3.5, 4.0])
    flow[..., 0] = -10
    assert np.array_equal(warp(image, flow), np.zeros_like(image))  # left edge replicated


def test_warp_any_channel_count_and_shape_errors() -> None:
    image = np.random.default_rng(1).random((8, 9, 6), dtype=np.float32)
    flow = np.zeros((8, 9, 2), dtype=np.float32)
    assert np.array_equal(warp(image, flow), image)
    assert warp(image[..., 0], flow).shape == (8, 9)
    with pytest.raises(ValueError):
        warp(image, np.zeros((8, 8, 2), dtype=np.float32))


# --------------------------------------------------------------------------------------------
# Flow


@pytest.mark.parametrize("shift", [(3.0, 0.0), (2.0, -1.5)])
def test_dis_recovers_a_camera_pan(shift: tuple[float, float]) -> None:
    """A crop moved by (dx, dy) with exact sub-pixel resampling: content moves by -(dx, dy)."""
    big = Image.fromarray(as_uint8(texture(SIZE + 20, SIZE + 20, 4, blur=2.0)))

    def crop(x: float, y: float) -> npt.NDArray[np.uint8]:
        window = big.transform(
            (SIZE, SIZE), Image.Transform.AFFINE, (1, 0, x, 0, 1, y), Image.Resampling.BICUBIC
        )
        return np.asarray(window)

    a, b = crop(10, 10), crop(10 + shift[0], 10 + shift[1])
    flow = optical_flow(a, b)
    assert flow.shape == (SIZE, SIZE, 2) and flow.dtype == np.float32
    inner = flow[10:-10, 10:-10]
    error = np.sqrt(((inner - (-shift[0], -shift[1])) ** 2).sum(axis=2))
    assert float(np.median(error)) < 0.25
    assert float(error.mean()) < 0.5


def test_optical_flow_rejects_mismatched_frames_and_presets() -> None:
    a = np.zeros((16, 16), dtype=np.uint8)
    with pytest.raises(ValueError, match="differ"):
        optical_flow(a, np.zeros((16, 17), dtype=np.uint8))
    with pytest.raises(ValueError, match="preset"):
        optical_flow(a, a, preset="slow")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Reliability


def test_reliability_with_exact_flows_marks_the_disoccluded_strip() -> None:
    """Square moves right by 8 px: previous frame has it at x 20..51, the current at 28..59."""
    height, width = 64, 80
    fw = np.zeros((height, width, 2), dtype=np.float32)  # current -> previous
    fw[16:48, 28:60, 0] = -8
    bw = np.zeros((height, width, 2), dtype=np.float32)  # previous -> current
    bw[16:48, 20:52, 0] = 8
    mask = reliability(fw, bw, sigma=0)
    assert mask.dtype == np.float32 and mask.shape == (height, width)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert np.all(mask[16:48, 20:28] == 0)  # background uncovered by the square
    assert np.all(mask[20:44, 32:56] == 1)  # inside the square
    assert np.all(mask[:10] == 1) and np.all(mask[:, 64:] == 1)  # background far away
    soft = reliability(fw, bw, sigma=1.0)
    assert np.all(soft <= mask) and np.all(soft[16:48, 20:28] == 0)
    assert 0 < soft[20, 19] < 1  # next to the strip: softened, not cut


def test_reliability_marks_pixels_leaving_the_frame() -> None:
    fw = np.full((20, 30, 2), 0.0, dtype=np.float32)
    fw[..., 0] = 4.0
    bw = -fw
    mask = reliability(fw, bw, sigma=0)
    assert np.all(mask[:, -4:] == 0) and np.all(mask[:, :-4] == 1)


def test_reliability_on_dis_flow_of_a_moving_square() -> None:
    prev, cur = square_frames(20, 28)
    fw, bw = optical_flow(cur, prev), optical_flow(prev, cur)
    assert np.allclose(np.median(fw[36:56, 36:54], axis=(0, 1)), (-8, 0), atol=0.3)
    mask = reliability(fw, bw)
    assert float(mask[30:62, 20:28].mean()) < 0.05  # disoccluded
    assert float(mask[70:90, 10:86].mean()) > 0.9  # static background
    assert float(mask[38:54, 38:50].mean()) > 0.9  # inside the square


def test_reliability_checks_its_arguments() -> None:
    flow = np.zeros((8, 8, 2), dtype=np.float32)
    with pytest.raises(ValueError):
        reliability(flow, np.zeros((8, 9, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        reliability(flow, flow, sigma=-1)


# --------------------------------------------------------------------------------------------
# Warping error


def panning_video(frames: int) -> list[npt.NDArray[np.uint8]]:
    big = as_uint8(texture(SIZE, SIZE + 2 * frames, 5))
    return [np.ascontiguousarray(big[:, 2 * t : 2 * t + SIZE]) for t in range(frames)]


def test_warping_error_of_a_static_video_is_zero() -> None:
    frame = as_uint8(texture(48, 64, 6))
    video = [frame] * 4
    assert warping_error(video, video) == pytest.approx(0.0, abs=1e-9)


def test_warping_error_follows_motion_and_punishes_flicker() -> None:
    inputs = panning_video(4)
    stable = warping_error(inputs, inputs)  # output = input: follows the pan
    flicker = [np.clip(f.astype(np.int16) + (40 if t % 2 else -40), 0, 255).astype(np.uint8)
               for t, f in enumerate(inputs)]  # fmt: skip
    unstable = warping_error(inputs, flicker)
    assert stable < 2e-3
    assert unstable > 0.05  # grey frames: (80/255)^2 = 0.098, less where clipped
    assert unstable > 50 * stable


def test_warping_error_streams_and_resizes_inputs() -> None:
    inputs = panning_video(3)
    meter = WarpingError()
    assert math.isnan(meter.value)
    big_inputs = [Image.fromarray(f).resize((2 * SIZE, 2 * SIZE)) for f in inputs]
    pairs = zip(big_inputs, inputs, strict=True)
    results = [meter.add(i, Image.fromarray(o).convert("RGB")) for i, o in pairs]
    assert results[0] is None and all(r is not None for r in results[1:])
    assert len(meter.errors) == 2 and meter.value < 5e-3


def test_pair_warping_error_formula() -> None:
    a = np.zeros((4, 4, 3), dtype=np.float32)
    b = np.full((4, 4, 3), 0.5, dtype=np.float32)
    flow = np.zeros((4, 4, 2), dtype=np.float32)
    mask = np.ones((4, 4), dtype=np.float32)
    assert pair_warping_error(a, b, flow, mask) == pytest.approx(3 * 0.25)
    assert pair_warping_error(a, b, flow, np.zeros_like(mask)) == 0.0


def test_warping_error_needs_matching_sequences() -> None:
    frame = np.zeros((16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="numbers of frames"):
        warping_error([frame] * 3, [frame] * 2)
    with pytest.raises(ValueError, match="two frames"):
        warping_error([frame], [frame])


def test_importing_restyle_and_the_media_modules_imports_neither_opencv_nor_pyav() -> None:
    code = (
        "import sys, restyle, restyle.media.flow, restyle.media.video; "
        "bad = [m for m in ('cv2', 'av') if m in sys.modules]; assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
