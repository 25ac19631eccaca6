"""Accuracy and speed of DIS optical flow (``restyle.media.flow``) per OpenCV preset.

    python bench/flow_accuracy.py               # about 20 seconds on a 2-core CPU
    python bench/flow_accuracy.py --repeats 20  # steadier timings

Two ground truths:

* Middlebury 2014 "Motorcycle" (scikit-image's ``stereo_motorcycle()``, 741x500, rectified):
  the flow from the left to the right image is ``(-disparity, 0)``; pixels without ground
  truth (``inf``/``NaN`` in the map) are left out. Disparities reach 60 px, larger than
  anything between two video frames, with occlusions: a hard case.
* A camera pan over ``tubingen.jpg`` from ``../shared/images``: two crops of the photo
  shifted by a known sub-pixel amount (resampled with bicubic interpolation), so every pixel
  of the first crop whose match lies inside the second moves by exactly ``-shift``; at
  320 and 640 px wide, three shifts each.

Reported per preset: end-point error (EPE, the length of flow minus truth) mean, median and
the share of pixels off by more than 1 px; and the time per frame pair (``optical_flow`` on
RGB frames, colour conversion included) at 320x240 and 640x480, the median of ``--repeats``
calls, next to the time of ``warp`` + ``reliability`` for one pair. Writes
``bench/results/flow_accuracy.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "src"))
from tools.shared import IMAGES, cpu_model  # noqa: E402

from restyle.media.flow import PRESETS, optical_flow, reliability, warp  # noqa: E402

PHOTO = IMAGES / "content" / "tubingen.jpg"
PAN_SHIFTS = ((3.0, 0.0), (2.5, 1.25), (7.3, -4.6))  # (dx, dy) of the camera at 640 px
SIZES = ((320, 240), (640, 480))

Array = npt.NDArray[Any]


# ----- ground truth ---------------------------------------------------------------------------


def middlebury() -> tuple[Array, Array, Array, Array]:
    """Left, right, true flow left -> right, and the mask of pixels with ground truth."""
    from skimage.data import stereo_motorcycle

    left, right, disparity = stereo_motorcycle()
    valid = np.isfinite(disparity)
    flow = np.zeros((*disparity.shape, 2), dtype=np.float32)
    flow[..., 0] = np.where(valid, -disparity, 0.0)
    return left, right, flow, valid


def check_sign(left: Array, right: Array, flow: Array, valid: Array) -> tuple[float, float]:
    """Mean |left - warp(right, flow)| with the flow's sign as assumed and flipped."""
    grey_l = left.astype(np.float32).mean(axis=2)
    grey_r = right.astype(np.float32).mean(axis=2)
    errors = []
    for sign in (1.0, -1.0):
        warped = warp(grey_r, (flow * sign).astype(np.float32))
        errors.append(float(np.abs(warped - grey_l)[valid].mean()))
    return errors[0], errors[1]


def pan_pair(photo: Image.Image, size: tuple[int, int], shift: tuple[float, float]) -> Any:
    """Two crops of ``photo`` (scaled so the crop is ``size``), the second moved by ``shift``
    (the camera's motion, in pixels at this size); returns (a, b, flow, valid)."""
    width, height = size
    scale = 1.5 * width / photo.width  # the crop covers 2/3 of the photo's width
    scaled = photo.resize(
        (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
    )
    x0 = (scaled.width - width) / 2 - shift[0] / 2
    y0 = (scaled.height - height) / 2 - shift[1] / 2
    a = crop_at(scaled, x0, y0, size)
    b = crop_at(scaled, x0 + shift[0], y0 + shift[1], size)
    flow = np.empty((height, width, 2), dtype=np.float32)
    flow[..., 0], flow[..., 1] = -shift[0], -shift[1]
    xs = np.arange(width)[None, :] - shift[0]
    ys = np.arange(height)[:, None] - shift[1]
    valid = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    return a, b, flow, valid


def crop_at(image: Image.Image, x: float, y: float, size: tuple[int, int]) -> Array:
    """The ``size`` window whose top-left corner is at the sub-pixel position (x, y)."""
    window = image.transform(
        size, Image.Transform.AFFINE, (1, 0, x, 0, 1, y), resample=Image.Resampling.BICUBIC
    )
    return np.asarray(window.convert("RGB"))


# ----- measurement ----------------------------------------------------------------------------


def epe(flow: Array, truth: Array, valid: Array) -> dict[str, float]:
    error = np.sqrt(np.sum((flow - truth) ** 2, axis=-1))[valid]
    return {
        "mean": float(error.mean()),
        "median": float(np.median(error)),
        "over1": float((error > 1.0).mean() * 100),
    }


def timed(call: Callable[[], object], repeats: int) -> float:
    call()  # warm up (OpenCV's thread pool, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pan_errors(photo: Image.Image, preset: str) -> dict[int, dict[str, float]]:
    """EPE over the three pans (pixels pooled) at each size."""
    out = {}
    for width, height in SIZES:
        flows, truths, valids = [], [], []
        for dx, dy in PAN_SHIFTS:
            factor = width / 640
            a, b, truth, valid = pan_pair(photo, (width, height), (dx * factor, dy * factor))
            flows.append(optical_flow(a, b, preset=preset))  # type: ignore[arg-type]
            truths.append(truth)
            valids.append(valid)
        out[width] = epe(np.stack(flows), np.stack(truths), np.stack(valids))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per size")
    args = parser.parse_args(argv)

    import cv2

    left, right, truth, valid = middlebury()
    sign_ok, sign_flipped = check_sign(left, right, truth, valid)
    photo = Image.open(PHOTO).convert("RGB")
    pairs = {w: pan_pair(photo, (w, h), (3.0 * w / 640, 0.0)) for w, h in SIZES}

    rows = []
    for preset in PRESETS:
        flow = optical_flow(left, right, preset=preset)  # type: ignore[arg-type]
        row: dict[str, Any] = {"preset": preset, "middlebury": epe(flow, truth, valid)}
        row["pan"] = pan_errors(photo, preset)
        row["time"] = {
            w: timed(lambda a=a, b=b, p=preset: optical_flow(a, b, preset=p), args.repeats)
            for w, (a, b, _, _) in pairs.items()
        }
        rows.append(row)

    extra = {}
    for w, (a, b, _, _) in pairs.items():
        fw, bw = optical_flow(a, b), optical_flow(b, a)
        image = b.astype(np.float32) / 255
        extra[w] = timed(lambda fw=fw, bw=bw, image=image: (warp(image, fw), reliability(fw, bw)),
                         args.repeats)  # fmt: skip
        cover = float(reliability(fw, bw, sigma=0).mean() * 100)
        extra[w] = (extra[w], cover)

    text = report(rows, extra, (sign_ok, sign_flipped), cv2.__version__, cv2.getNumThreads())
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "flow_accuracy.md").write_text(text)
    return 0


def report(
    rows: list[dict[str, Any]],
    extra: dict[int, tuple[float, float]],
    sign: tuple[float, float],
    cv_version: str,
    threads: int,
) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# DIS optical flow: accuracy and speed",
        "",
        f"Measured {datetime.date.today()} by `python bench/flow_accuracy.py` on "
        f"{cpu_model()} ({os.cpu_count()} cores, OpenCV {cv_version} with {threads} threads, "
        f"Python {platform.python_version()}), load average {load:.2f} at the end.",
        "",
        "EPE: end-point error in pixels (mean / median / % of pixels over 1 px). Middlebury: "
        "`skimage.data.stereo_motorcycle()`, 741x500, true flow (-disparity, 0), pixels "
        "without ground truth left out. Pan: `tubingen.jpg` crops moved by "
        + ", ".join(f"({dx:g}, {dy:g})" for dx, dy in PAN_SHIFTS)
        + " px (at 640 px; scaled at 320), pixels whose match leaves the frame left out. "
        "Time: median seconds of one `optical_flow` call on a 320x240 / 640x480 RGB pair.",
        "",
        "| preset | Middlebury EPE | pan 320 px EPE | pan 640 px EPE "
        "| time 320x240 | time 640x480 |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        mid, pan = row["middlebury"], row["pan"]
        lines.append(
            f"| {row['preset']} | {_epe(mid)} | {_epe(pan[320])} | {_epe(pan[640])} | "
            f"{row['time'][320] * 1000:.1f} ms | {row['time'][640] * 1000:.1f} ms |"
        )
    lines += [
        "",
        "Per frame pair, the temporal term needs two flows (forward and backward), one "
        "`warp` and one `reliability`; the last two take "
        + " and ".join(f"{t * 1000:.1f} ms at {w} px" for w, (t, _) in extra.items())
        + ". Share of pixels the binary reliability keeps on the 3-px pan: "
        + " and ".join(f"{c:.1f} % at {w} px" for w, (_, c) in extra.items())
        + " (the rest: the strip that leaves the frame, and motion-boundary false alarms).",
        "",
        f"Sign check of the Middlebury flow: mean |left - warp(right, flow)| = {sign[0]:.1f} "
        f"grey levels with flow = (-disparity, 0), {sign[1]:.1f} with (+disparity, 0).",
        "",
        "restyle's default is `medium`, the most accurate preset on both ground truths; two "
        "of its flows per frame cost little next to the style optimisation of that frame "
        "(one L-BFGS step at 512x384 takes about 0.8 s on this machine, bench/step.py).",
        "",
    ]
    if load > 2.5:
        lines += [
            f"The machine was busy (load average {load:.1f} on {os.cpu_count()} cores): the "
            "timings are upper bounds; the accuracy columns do not depend on load.",
            "",
        ]
    return "\n".join(lines)


def _epe(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.2f} / {stats['median']:.2f} / {stats['over1']:.1f} %"


if __name__ == "__main__":
    raise SystemExit(main())
