"""Optical flow for video style transfer: DIS flow, backward warping, reliability, warping error.

Conventions (used by every function here):

* A flow field is a NumPy ``float32`` array of shape ``(H, W, 2)``: ``flow[y, x] = (dx, dy)``
  in pixels, x to the right and y down.
* ``flow_ab = optical_flow(a, b)`` maps each pixel p of ``a`` to where it is in ``b``:
  ``a(p) ~ b(p + flow_ab(p))``.
* ``warp(b, flow_ab)`` pulls ``b`` back onto ``a``'s grid (backward warping), so
  ``warp(b, flow_ab) ~ a`` wherever the pixel is visible in both frames.
* ``reliability(flow_ab, flow_ba)`` is a weight on ``a``'s grid: 1 where ``warp(b, flow_ab)``
  can be trusted, 0 where the pixel of ``a`` is hidden in ``b`` or moves out of the frame,
  or sits on a motion boundary (Ruder, Dosovitskiy & Brox, "Artistic style transfer for
  videos", GCPR 2016).

For the temporal term of video style transfer, with ``x_prev`` the stylised previous frame
and ``frame``/``prev`` the input frames::

    flow = optical_flow(frame, prev)            # current -> previous
    back = optical_flow(prev, frame)            # previous -> current
    target = warp(x_prev, flow)                 # previous result on the current grid
    weight = reliability(flow, back)            # (H, W) in [0, 1]
    # temporal loss: mean(weight * (x - target)**2), and x may start from target

OpenCV is imported inside the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "Flow",
    "FrameLike",
    "WarpingError",
    "optical_flow",
    "pair_warping_error",
    "reliability",
    "to_grey",
    "warp",
    "warping_error",
]

Flow: TypeAlias = npt.NDArray[np.float32]
"""A flow field: ``(H, W, 2)`` float32, ``(dx, dy)`` per pixel."""

FrameLike: TypeAlias = Image.Image | npt.NDArray[Any]
"""A PIL image, or an ``(H, W)`` / ``(H, W, C)`` array of uint8 or floats in [0, 1]."""

Preset: TypeAlias = Literal["ultrafast", "fast", "medium"]

PRESETS: dict[str, int] = {"ultrafast": 0, "fast": 1, "medium": 2}
"""DIS preset name -> OpenCV's ``DISOPTICAL_FLOW_PRESET_*`` value."""

DEFAULT_PRESET: Preset = "medium"
"""The DIS preset used unless asked otherwise; see ``bench/flow_accuracy.py``: on this
project's 2-core CPU it is the most accurate of the three and still fast next to a style
transfer step (numbers in ``bench/results/flow_accuracy.md``)."""

# Ruder et al. 2016, Eq. (7) and (8)
_CONSISTENCY_RELATIVE = 0.01
_CONSISTENCY_ABSOLUTE = 0.5
_BOUNDARY_RELATIVE = 0.01
_BOUNDARY_ABSOLUTE = 0.002


# --------------------------------------------------------------------------------------------
# Conversions


def to_grey(image: FrameLike) -> npt.NDArray[np.uint8]:
    """A frame as an ``(H, W)`` uint8 greyscale array (ITU-R 601 luma), the input DIS takes.

    Args:
        image: A PIL image, or an array ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or
            ``(H, W, 4)`` (RGB(A); alpha ignored) of uint8 or of floats in [0, 1].

    Returns:
        A C-contiguous uint8 array (a copy, or the input itself when it already is one).

    Raises:
        ValueError: For an array of another shape.
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    array = _as_uint8(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return np.ascontiguousarray(array)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {array.shape}")
    rgb = array[:, :, :3].astype(np.float32)
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray(np.clip(np.rint(luma), 0, 255).astype(np.uint8))


def _as_uint8(array: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"expected uint8 or float pixels, got {array.dtype}")


def _as_float(image: FrameLike) -> npt.NDArray[np.float32]:
    """A frame as ``(H, W, C)`` float32 in [0, 1] (uint8 divided by 255)."""
    array = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    if array.dtype == np.uint8:
        out = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        out = array.astype(np.float32, copy=False)
    else:
        raise ValueError(f"expected uint8 or float pixels, got {array.dtype}")
    return out[:, :, None] if out.ndim == 2 else out


# --------------------------------------------------------------------------------------------
# Flow and warping


def optical_flow(a: FrameLike, b: FrameLike, *, preset: Preset = DEFAULT_PRESET) -> Flow:
    """Dense optical flow from ``a`` to ``b`` with OpenCV's DIS (Kroeger et al., ECCV 2016).

    Args:
        a: The frame whose grid the flow lives on (see :func:`to_grey` for the types; colour
            frames are converted to greyscale).
        b: The frame it moves to; same height and width as ``a``.
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (see :data:`DEFAULT_PRESET`).

    Returns:
        ``(H, W, 2)`` float32 with ``a(p) ~ b(p + flow(p))``; ``flow[..., 0]`` is the motion
        to the right, ``flow[..., 1]`` downwards, in pixels.

    Raises:
        ValueError: If the frames differ in size, or the preset is unknown.

    Example:
        >>> import numpy as np
        >>> a = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
        >>> b = np.roll(a, 2, axis=1)  # everything moves 2 px to the right
        >>> flow = optical_flow(a, b)
        >>> bool(abs(float(np.median(flow[8:-8, 8:-8, 0])) - 2.0) < 0.1)
        True
    """
    import cv2

    grey_a, grey_b = to_grey(a), to_grey(b)
    if grey_a.shape != grey_b.shape:
        raise ValueError(f"frames differ in size: {grey_a.shape} and {grey_b.shape}")
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; use one of {', '.join(PRESETS)}")
    dis = cv2.DISOpticalFlow.create(PRESETS[preset])
    flow = dis.calc(grey_a, grey_b, None)  # type: ignore[call-overload]  # stubs lack None
    return np.ascontiguousarray(flow, dtype=np.float32)


def warp(image: npt.NDArray[Any], flow: Flow) -> npt.NDArray[np.float32]:
    """Backward-warp ``image`` with ``flow``: ``out(p) = image(p + flow(p))``, bilinearly.

    With ``flow_ab = optical_flow(a, b)``, ``warp(b, flow_ab) ~ a``. Interpolation is
    bilinear, by OpenCV's ``remap`` (about 30x faster than the same in NumPy): with OpenCV 5
    it matches the bilinear formula to float32 rounding (1e-7, measured); OpenCV 4 rounds
    sub-pixel positions to 1/32 px (an error below 1/64 of the step between neighbouring
    pixels). An integer flow copies pixels exactly. Positions outside the image take the
    value of the nearest edge pixel (clamped coordinates, ``BORDER_REPLICATE``);
    :func:`reliability` gives such pixels weight 0.

    Args:
        image: NumPy ``(H, W)`` or ``(H, W, C)`` array (any number of channels, e.g. a flow
            field itself), uint8 or float; it is read as float32 without rescaling. For a
            torch ``(N, C, H, W)`` tensor, warp ``t[0].permute(1, 2, 0).cpu().numpy()``.
        flow: ``(H, W, 2)`` flow on the output grid.

    Returns:
        float32 array of the same shape as ``image``.

    Raises:
        ValueError: If the shapes do not match.
    """
    import cv2

    height, width = image.shape[:2]
    if flow.shape != (height, width, 2) or image.ndim not in (2, 3):
        raise ValueError(f"flow of shape {flow.shape} does not fit an image of {image.shape}")
    data = np.ascontiguousarray(image, dtype=np.float32)
    x, y = _sample_positions(flow)
    if data.ndim == 2 or data.shape[2] <= 4:
        return _remap(cv2, data, x, y)
    parts = [_remap(cv2, data[:, :, i : i + 4], x, y) for i in range(0, data.shape[2], 4)]
    return np.concatenate([p if p.ndim == 3 else p[:, :, None] for p in parts], axis=2)


def _remap(
    cv2: Any, data: npt.NDArray[np.float32], x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    out = cv2.remap(
        np.ascontiguousarray(data), x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if data.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[:, :, None]
    return np.asarray(out, dtype=np.float32)


def _sample_positions(flow: Flow) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``p + flow(p)`` as two float32 arrays (x, y), not clamped."""
    height, width = flow.shape[:2]
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    x = np.nan_to_num(xs + flow[:, :, 0]).astype(np.float32)
    y = np.nan_to_num(ys + flow[:, :, 1]).astype(np.float32)
    return x, y


# --------------------------------------------------------------------------------------------
# Reliability


def reliability(flow_fw: Flow, flow_bw: Flow, *, sigma: float = 1.0) -> npt.NDArray[np.float32]:
    """Where the flow can be trusted (Ruder, Dosovitskiy & Brox 2016), on ``flow_fw``'s grid.

    With ``w = flow_fw`` (``a -> b``) and ``w~(p) = flow_bw(p + w(p))`` (the backward flow
    ``b -> a`` read where each pixel lands), a pixel gets weight 0 when

    * the forward-backward check fails (occluded in ``b``):
      ``|w + w~|^2 > 0.01 (|w|^2 + |w~|^2) + 0.5``;
    * it is on a motion boundary: ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002``
      (central differences);
    * ``p + w(p)`` falls outside the frame;

    and 1 elsewhere. With ``sigma > 0`` the mask is then softened towards its zeros: it
    becomes ``min(mask, gaussian_blur(mask, sigma))``, so zeros stay zeros and the weights of
    their neighbours fall smoothly instead of in a step.

    Args:
        flow_fw: Flow ``a -> b`` (``optical_flow(a, b)``), the one used to warp ``b`` onto
            ``a``.
        flow_bw: Flow ``b -> a`` (``optical_flow(b, a)``).
        sigma: Standard deviation in pixels of the softening blur; 0 gives the binary mask.

    Returns:
        ``(H, W)`` float32 in [0, 1].

    Raises:
        ValueError: If the flows' shapes differ or are not ``(H, W, 2)``, or sigma < 0.
    """
    if flow_fw.ndim != 3 or flow_fw.shape[2] != 2 or flow_fw.shape != flow_bw.shape:
        raise ValueError(f"expected two (H, W, 2) flows, got {flow_fw.shape}, {flow_bw.shape}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be 0 or more, got {sigma}")
    mask = _consistent(flow_fw, flow_bw) & ~_motion_boundary(flow_fw) & _lands_inside(flow_fw)
    weight = mask.astype(np.float32)
    return _soften(weight, sigma) if sigma > 0 else weight


def _consistent(flow_fw: Flow, flow_bw: Flow) -> npt.NDArray[np.bool_]:
    back = warp(flow_bw, flow_fw)
    gap = np.sum((flow_fw + back) ** 2, axis=2)
    scale = np.sum(flow_fw**2, axis=2) + np.sum(back**2, axis=2)
    ok: npt.NDArray[np.bool_] = gap <= _CONSISTENCY_RELATIVE * scale + _CONSISTENCY_ABSOLUTE
    return ok


def _motion_boundary(flow: Flow) -> npt.NDArray[np.bool_]:
    height, width = flow.shape[:2]
    if height < 2 or width < 2:
        return np.zeros((height, width), dtype=bool)
    du_dy, du_dx = np.gradient(flow[:, :, 0])
    dv_dy, dv_dx = np.gradient(flow[:, :, 1])
    steepness = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    magnitude = np.sum(flow**2, axis=2)
    edge: npt.NDArray[np.bool_] = steepness > _BOUNDARY_RELATIVE * magnitude + _BOUNDARY_ABSOLUTE
    return edge


def _lands_inside(flow: Flow) -> npt.NDArray[np.bool_]:
    height, width = flow.shape[:2]
    x, y = _sample_positions(flow)
    inside: npt.NDArray[np.bool_] = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return inside


def _soften(mask: npt.NDArray[np.float32], sigma: float) -> npt.NDArray[np.float32]:
    import cv2

    blurred = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    return np.minimum(mask, blurred).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Warping error (Lai et al., ECCV 2018)


def pair_warping_error(
    output_a: FrameLike, output_b: FrameLike, flow_ab: Flow, mask: npt.NDArray[np.float32]
) -> float:
    """Warping error of one pair of output frames under a given flow and mask.

    ``sum_p mask(p) * |output_a(p) - warp(output_b, flow_ab)(p)|^2 / sum_p mask(p)``, with
    pixels in [0, 1] and ``|.|^2`` the squared distance summed over the colour channels
    (Lai et al. 2018, Eq. 7; at most 3 for RGB). 0 when the mask is all zero.

    Args:
        output_a: Output frame t.
        output_b: Output frame t + 1, same size.
        flow_ab: Flow from input frame t to input frame t + 1, on the output's grid.
        mask: ``(H, W)`` weights, e.g. :func:`reliability` of the input's flows.

    Returns:
        The error of this pair.
    """
    a, b = _as_float(output_a), _as_float(output_b)
    if a.shape != b.shape:
        raise ValueError(f"output frames differ in shape: {a.shape} and {b.shape}")
    warped = warp(b, flow_ab)
    squared = np.sum((a - warped) ** 2, axis=2, dtype=np.float64)
    total = float(np.sum(mask, dtype=np.float64))
    if total <= 0:
        return 0.0
    return float(np.sum(squared * mask, dtype=np.float64) / total)


class WarpingError:
    """Streaming warping error of a stylised video (Lai et al., "Learning Blind Video
    Temporal Consistency", ECCV 2018): lower is more stable.

    Feed the input and output frames one pair at a time with :meth:`add`; only the previous
    pair is kept. For each consecutive pair (t, t + 1) the flow ``t -> t + 1`` and the
    occlusion mask (binary :func:`reliability`, the forward-backward and motion-boundary
    checks) are computed on the INPUT frames, and output t + 1 is warped back onto output t
    (:func:`pair_warping_error`). :attr:`value` is the mean over pairs.

    Input frames are resized (Lanczos) to the output size when they differ.

    Attributes:
        errors: The error of each pair so far.
    """

    def __init__(self, *, preset: Preset = DEFAULT_PRESET) -> None:
        """Start with no frames.

        Args:
            preset: The DIS preset for the input's flow.
        """
        self.preset: Preset = preset
        self.errors: list[float] = []
        self._previous: tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]] | None = None

    def add(self, input_frame: FrameLike, output_frame: FrameLike) -> float | None:
        """Take the next frame of the input video and of the output video.

        Args:
            input_frame: Frame t of the input (see :data:`FrameLike`).
            output_frame: Frame t of the output.

        Returns:
            The error of the pair (t - 1, t), or None for the first frame.
        """
        output = _as_float(output_frame)
        grey = _grey_at(input_frame, output.shape[1], output.shape[0])
        previous, self._previous = self._previous, (grey, output)
        if previous is None:
            return None
        grey_prev, output_prev = previous
        if output_prev.shape != output.shape:
            raise ValueError(f"output frames differ in shape: {output_prev.shape}, {output.shape}")
        flow = optical_flow(grey_prev, grey, preset=self.preset)
        back = optical_flow(grey, grey_prev, preset=self.preset)
        error = pair_warping_error(output_prev, output, flow, reliability(flow, back, sigma=0))
        self.errors.append(error)
        return error

    @property
    def value(self) -> float:
        """Mean error over the pairs seen so far (NaN before the second frame)."""
        return float(np.mean(self.errors)) if self.errors else math.nan


def _grey_at(image: FrameLike, width: int, height: int) -> npt.NDArray[np.uint8]:
    """Greyscale at ``width`` x ``height`` (Lanczos-resized if needed)."""
    grey = to_grey(image)
    if grey.shape == (height, width):
        return grey
    small = Image.fromarray(grey, "L").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.uint8)


def warping_error(
    inputs: Iterable[FrameLike], outputs: Iterable[FrameLike], *, preset: Preset = DEFAULT_PRESET
) -> float:
    """Mean warping error of an output video given its input video (see :class:`WarpingError`).

    Args:
        inputs: The input frames in order (PIL images or arrays; e.g.
            ``(f.image for f in read_frames(path))``).
        outputs: The output frames, as many as the inputs.
        preset: The DIS preset for the input's flow.

    Returns:
        The mean over consecutive pairs; lower is more temporally consistent.

    Raises:
        ValueError: If the two sequences differ in length or hold fewer than two frames.
    """
    meter = WarpingError(preset=preset)
    sentinel = object()
    input_iter, output_iter = iter(inputs), iter(outputs)
    while True:
        frame_in = next(input_iter, sentinel)
        frame_out = next(output_iter, sentinel)
        if frame_in is sentinel and frame_out is sentinel:
            break
        if frame_in is sentinel or frame_out is sentinel:
            raise ValueError("input and output videos have different numbers of frames")
        meter.add(frame_in, frame_out)  # type: ignore[arg-type]
    if not meter.errors:
        raise ValueError("the warping error needs at least two frames")
    return meter.value
