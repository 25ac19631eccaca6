"""Stylise a video without flicker (Ruder, Dosovitskiy & Brox, "Artistic style transfer for
videos", GCPR 2016), and measure flicker (Lai et al., ECCV 2018).

:func:`stylize_video_frames` streams the input's frames (one in memory at a time, plus the
previous one) and writes the output through :class:`~restyle.media.video.VideoWriter`:

* the first frame is a normal coarse-to-fine run (:class:`~restyle.tasks.stylize.StyleRun`);
* every later frame is optimised at the output size only, for
  :attr:`VideoOptions.frame_iterations` steps (fewer than the first frame's), starting from the
  previous result warped into it by the optical flow of the input frames (DIS,
  :mod:`restyle.media.flow`), and with the temporal term (:mod:`restyle.objective.temporal`,
  weight :attr:`~restyle.config.Settings.temporal_weight`) tying it to that warped result where
  the flow is reliable. Where it is not (pixels that were hidden in the previous frame, motion
  boundaries, pixels that came in over the frame's edge), the start is the frame's own content,
  blended by the soft reliability mask ``c``: ``x0 = c * warped + (1 - c) * frame``.

One scale for later frames: the warped start already carries the first frame's large-scale
strokes, and a coarse-to-fine pass would first blur them away (the downsampled start) and then
repaint them a little differently, which is flicker. At one scale, by their pixel-steps, a later
frame's 30 steps cost two fifths (320 px) to a half (512 px) of the first frame's 120 steps
over its scales (``bench/results/video.md`` measured the 300-step split before: a quarter to two
fifths). The price: where the picture changes
(a moving figure, disocclusions) a later frame gets only those steps at fine scale, so such
regions keep fewer and smaller strokes than the first frame's, and repeated bilinear warps of
sub-pixel motion soften them over the frames.

Finished frames go to a work folder as PNG files (next to the output by default:
``OUTPUT.work``), with a ``run.json`` that records what made them. A run started again with
``resume`` reads the frames it finds there, checks the record, and goes on from the first frame
missing. The previous result a frame is tied to is always the 8-bit frame as saved, so a resumed
run gives exactly the frames of an uninterrupted one (bit-identical on a CPU). An interruption
(Ctrl-C, or an error) still finalises the output video with the frames done so far (the
writer's guarantee); the work folder is removed after a complete run unless asked to keep it.

:func:`video_warping_error` scores an output video against its input: the warping error of the
output and of the input itself (the floor), with the flow and occlusion mask of the input.

The colour modes: ``luminance`` works as for photos (the temporal term then compares
luminances); ``histogram`` matches the paintings' colours to the FIRST frame once, so every
frame has the same style targets (matching per frame would make the targets, and so the
colours, drift from frame to frame).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from .. import color
from ..config import Settings
from ..errors import RestyleError
from ..media.flow import (
    DEFAULT_PRESET,
    PRESETS,
    optical_flow,
    pair_warping_error,
    reliability,
    warp,
)
from ..media.image import load_image, resize, save_image, to_pil, to_tensor
from ..media.video import (
    FrameReader,
    PathLike,
    VideoWriter,
    check_video_output,
    read_frames,
)
from ..net.cache import NetworkCache
from ..objective.temporal import TemporalTerm
from ..objective.terms import Term
from ..optim.progress import Progress
from ..optim.schedule import output_size
from .apply import Painter, open_model
from .stylize import StyleRun

__all__ = [
    "VideoOptions",
    "VideoProgress",
    "VideoScores",
    "default_work_dir",
    "stylize_video_frames",
    "video_warping_error",
]

#: :attr:`VideoOptions.network` of the arbitrary-style network (with the run's paintings).
ARBITRARY = "arbitrary"
#: Name of the record of a work folder.
RECORD = "run.json"
#: Version of that record's layout.
RECORD_VERSION = 1


@dataclass(frozen=True)
class VideoOptions:
    """What a video run needs beyond :class:`~restyle.config.Settings` (the one place of
    their defaults).

    Attributes:
        frame_iterations: Optimisation steps of each frame after the first (at the output
            size; a frame may stop earlier by the tolerance). The first frame gets
            ``settings.iterations`` over its coarse-to-fine scales: 120 of them cost as much
            as 56 steps at 512 px (79 at 320 px), so 30 keeps a later frame at about half the
            first frame's time or less.
        start: Where in the input to start, in seconds.
        duration: How many seconds to stylise (None: to the end).
        fps: Frame rate of a folder of frames (None: 25); a video file has its own.
        independent: Stylise every frame on its own, as a photo (no flow, no temporal term,
            ``settings.iterations`` each): what the video mode is compared with.
        resume: Go on from the frames in the work folder (which must have been made by a run
            with the same input, paintings, settings and options).
        work_dir: The work folder (None: ``OUTPUT.work`` beside the output).
        keep_frames: Keep the work folder after a complete run.
        flow_preset: DIS preset of the optical flow (``ultrafast``, ``fast``, ``medium``).
        mask_sigma: Softening of the reliability mask, in pixels (0: binary).
        network: Paint each frame with a feed-forward network instead of optimising it:
            ``"arbitrary"`` (Ghiasi et al.'s network with the paintings) or a model file of
            ``restyle train``. None: the optimisation.
        blend: With ``network``: how much of the previous result, warped into the frame, each
            frame keeps where the flow is reliable (0: plain per-frame output, which flickers).
    """

    frame_iterations: int = 30
    start: float = 0.0
    duration: float | None = None
    fps: float | None = None
    independent: bool = False
    resume: bool = False
    work_dir: str | None = None
    keep_frames: bool = False
    flow_preset: str = DEFAULT_PRESET
    mask_sigma: float = 1.0
    network: str | None = None
    blend: float = 0.6

    def __post_init__(self) -> None:
        n = self.frame_iterations
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise RestyleError(f"frame_iterations must be a whole number of at least 1, got {n!r}")
        if not isinstance(self.start, (int, float)) or not math.isfinite(self.start):
            raise RestyleError(f"start must be a number of seconds, got {self.start!r}")
        if self.start < 0:
            raise RestyleError(f"start must be 0 or more seconds, got {self.start:g}")
        d = self.duration
        if d is not None and (not isinstance(d, (int, float)) or not math.isfinite(d) or d <= 0):
            raise RestyleError(f"duration must be more than 0 seconds, got {d!r}")
        if self.flow_preset not in PRESETS:
            raise RestyleError(
                f"flow_preset must be one of {', '.join(PRESETS)}; got {self.flow_preset!r}"
            )
        s = self.mask_sigma
        if not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
            raise RestyleError(f"mask_sigma must be 0 or more, got {s!r}")
        b = self.blend
        if not isinstance(b, (int, float)) or not 0 <= b < 1:
            raise RestyleError(f"blend must be from 0 up to (not including) 1, got {b!r}")
        if self.network is not None and (not isinstance(self.network, str) or not self.network):
            raise RestyleError(f"network must be 'arbitrary' or a model file, got {self.network!r}")

    def replace(self, **changes: Any) -> VideoOptions:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class VideoProgress:
    """One report of a video run: an optimisation step of a frame, or a finished frame.

    Attributes:
        frame: Index of the frame this report is about (0 = the first frame stylised).
        frames: Frames in the piece being stylised: the input's count when it knows one,
            else an estimate from its duration; exact on the last report.
        frames_done: Frames finished so far (this one included on a ``frame_done`` report).
        time: The frame's time in the input, in seconds.
        width: Width of the output frames.
        height: Their height.
        step: The optimisation step of this frame (its own scale, step and losses); None on
            the report that closes a frame.
        frame_done: True once the frame is finished, saved and written to the output.
        resumed: The finished frame was read back from the work folder, not computed.
        frame_seconds: Seconds the frame took (on a ``frame_done`` report; 0 if resumed).
        elapsed: Seconds since the run started.
        eta: Estimated seconds left for the whole piece.
        done: True on the last report, once the output is complete.
        image: The finished frame (on ``frame_done`` reports), else None.
    """

    frame: int
    frames: int
    frames_done: int
    time: float
    width: int
    height: int
    step: Progress | None = None
    frame_done: bool = False
    resumed: bool = False
    frame_seconds: float = 0.0
    elapsed: float = 0.0
    eta: float = 0.0
    done: bool = False
    image: Image.Image | None = None


def default_work_dir(output: PathLike) -> Path:
    """Where a run writing ``output`` keeps its finished frames: ``OUTPUT.work`` beside it."""
    p = Path(os.fspath(output).rstrip("/" + os.sep) or ".")
    return p.with_name(p.name + ".work")


# ----- the work folder -----------------------------------------------------------------------


def _show(path: PathLike) -> str:
    """A path as text for a one-line message (quoted when it holds control characters)."""
    text = os.fspath(path)
    return text if text and text.isprintable() else repr(text)


def _digest_image(img: Image.Image) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((img.size, img.mode)).encode())
    h.update(img.tobytes())
    return h.hexdigest()


class _WorkFolder:
    """Finished frames as ``000001.png`` ... and the ``run.json`` record of what made them."""

    def __init__(self, path: Path, record: dict[str, Any], resume: bool) -> None:
        self.path = path
        self.shown = _show(path)
        self.record = json.loads(json.dumps(record))  # as it reads back (tuples as lists)
        if path.exists() and not path.is_dir():
            raise RestyleError(f"work folder path exists and is not a folder: {self.shown}")
        self.done = self._count() if path.is_dir() else 0
        record_file = path / RECORD
        if resume and self.done:
            self._check_record(record_file)
        elif self.done:
            raise RestyleError(
                f"the work folder {self.shown} holds {self.done} finished frames of an earlier "
                "run: add --resume to go on from them, or remove the folder"
            )
        try:
            path.mkdir(exist_ok=True)
            if not self.done:
                self._write_record(record_file)
        except OSError as exc:
            raise RestyleError(
                f"cannot write the work folder {self.shown} ({exc.strerror or exc})"
            ) from None

    def frame_path(self, index: int) -> Path:
        return self.path / f"{index + 1:06d}.png"

    def _count(self) -> int:
        n = 0
        while self.frame_path(n).is_file():
            n += 1
        return n

    def _write_record(self, record_file: Path) -> None:
        tmp = record_file.with_name(record_file.name + ".tmp")
        tmp.write_text(json.dumps(self.record, sort_keys=True, indent=1) + "\n", "utf-8")
        os.replace(tmp, record_file)

    def _check_record(self, record_file: Path) -> None:
        try:
            old = json.loads(record_file.read_text("utf-8"))
        except (OSError, ValueError):
            raise RestyleError(
                f"the work folder {self.shown} has frames but no readable {RECORD}: "
                "it cannot be resumed; remove it"
            ) from None
        if not isinstance(old, dict):
            old = {}
        differ = sorted(_differences(old, self.record))
        if differ:
            raise RestyleError(
                f"the work folder {self.shown} was made by a run with other "
                f"{', '.join(differ)}: run with the same options, or remove the folder"
            )

    def load(self, index: int, size: tuple[int, int]) -> Image.Image:
        img = load_image(self.frame_path(index), role="finished frame")
        if img.size != size:
            raise RestyleError(
                f"finished frame {_show(self.frame_path(index))} is {img.size[0]}x{img.size[1]}, "
                f"the run's frames are {size[0]}x{size[1]}: remove the work folder"
            )
        return img

    def save(self, index: int, img: Image.Image) -> None:
        save_image(img, self.frame_path(index))

    def remove(self) -> None:
        """Delete the frames and the record (only what a run writes), then the folder if empty."""
        for i in range(self._count()):
            with contextlib.suppress(OSError):
                self.frame_path(i).unlink()
        with contextlib.suppress(OSError):
            (self.path / RECORD).unlink()
        with contextlib.suppress(OSError):
            self.path.rmdir()


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of what differs between two records (settings fields by name)."""
    out = []
    for key in new:
        if key == "settings":
            a, b = old.get(key) or {}, new[key]
            out += [f"settings ({k})" for k in b if a.get(k) != b[k]]
        elif key == "options":
            a, b = old.get(key) or {}, new[key]
            out += [f"options ({k})" for k in b if a.get(k) != b[k]]
        elif old.get(key) != new[key]:
            out.append(key)
    return out


def _record(
    input_path: PathLike,
    styles: Sequence[Image.Image],
    settings: Settings,
    options: VideoOptions,
    size: tuple[int, int],
) -> dict[str, Any]:
    """What decides the frames of a run (compared on resume)."""
    try:
        stat = os.stat(input_path)
        source = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    except OSError:
        source = {}
    opts = dataclasses.asdict(options)
    for k in ("resume", "work_dir", "keep_frames"):
        opts.pop(k)
    if options.network not in (None, ARBITRARY):  # a model file retrained in place
        try:
            stat = os.stat(str(options.network))
            opts["model file"] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        except OSError:
            pass
    return {
        "version": RECORD_VERSION,
        "input": os.path.abspath(os.fspath(input_path)),
        "input file": source,
        "paintings": [_digest_image(s) for s in styles],
        "settings": settings.to_dict(),
        "options": opts,
        "frame size": list(size),
    }


# ----- frames ------------------------------------------------------------------------------


def _float_image(img: Image.Image) -> npt.NDArray[np.float32]:
    """An RGB image as ``(H, W, 3)`` float32 in [0, 1]."""
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _as_batch(array: npt.NDArray[np.float32]) -> torch.Tensor:
    """``(H, W, C)`` -> ``(1, C, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0).contiguous()


@dataclass
class _Consistency:
    """What ties a later frame to the previous result: the start image and the temporal term."""

    start: torch.Tensor
    term: TemporalTerm


def _warped_previous(
    frame: Image.Image,
    previous_frame: Image.Image,
    previous_result: Image.Image,
    options: VideoOptions,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The previous result warped into this frame by the flow of the input frames (at the
    output size, both ways), and the flow's reliability ``(H, W)`` in [0, 1]."""
    preset: Any = options.flow_preset
    flow = optical_flow(frame, previous_frame, preset=preset)  # this frame -> previous
    back = optical_flow(previous_frame, frame, preset=preset)
    mask = reliability(flow, back, sigma=options.mask_sigma)
    return np.clip(warp(_float_image(previous_result), flow), 0.0, 1.0), mask


def _blended(
    painted: Image.Image,
    frame: Image.Image,
    previous: tuple[Image.Image, Image.Image],
    options: VideoOptions,
) -> Image.Image:
    """A feed-forward frame with the previous result warped into it, where the flow is
    reliable: ``b c warped + (1 - b c) painted`` (``b``: :attr:`VideoOptions.blend`)."""
    warped, mask = _warped_previous(frame, previous[0], previous[1], options)
    keep = options.blend * mask[:, :, None]
    out = keep * warped + (1.0 - keep) * _float_image(painted)
    return Image.fromarray(np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8), "RGB")


def _consistency(
    frame: Image.Image,
    previous_frame: Image.Image,
    previous_result: Image.Image,
    settings: Settings,
    options: VideoOptions,
) -> _Consistency:
    """The previous result warped into this frame, its reliability, and the start with
    disocclusions filled from ``frame``."""
    warped, mask = _warped_previous(frame, previous_frame, previous_result, options)
    content = _float_image(frame)
    c = mask[:, :, None]
    start = c * warped + (1.0 - c) * content
    target = _as_batch(warped)
    if settings.color == "luminance":  # the optimised image is grey: compare luminances
        target = color.grey_rgb(color.luminance(target))
    term = TemporalTerm(target, _as_batch(mask[:, :, None]), settings.temporal_weight)
    return _Consistency(_as_batch(start.astype(np.float32)), term)


def _expected_frames(reader: FrameReader, options: VideoOptions) -> int:
    info = reader.info
    fps = float(info.fps)
    left = info.frames - round(options.start * fps)
    if options.duration is not None:
        left = min(left, math.ceil(options.duration * fps - 1e-6))
    return max(1, left)


def _frame_work(run: StyleRun) -> float:
    """Pixel-steps of a run's schedule (what its time is proportional to)."""
    return float(sum(n * w * h for n, (w, h) in zip(run.steps, run.sizes, strict=True)))


class _Clock:
    """Estimates the time left from what frames have taken so far.

    Before any frame is finished, a frame's time is estimated from the first frame's
    progress: seconds per pixel-step (its time is proportional to the sum over its scales of
    steps x pixels), times a later frame's pixel-steps.
    """

    def __init__(self, width: int, height: int, later_steps: int, independent: bool) -> None:
        self.later_work = float(width * height * later_steps)
        self.independent = independent
        self.rate: float | None = None  # seconds per pixel-step, from the first frame
        self.full: list[float] = []  # seconds of each full (first or independent) frame
        self.later: list[float] = []  # seconds of each later frame

    def measure(self, p: Progress, work: float) -> None:
        """Take the rate from a full frame's step report until a frame has finished."""
        if not self.full and p.elapsed > 0 and work > 0:
            self.rate = (p.elapsed + p.eta) / work

    def finished(self, full: bool, seconds: float, work: float) -> None:
        (self.full if full else self.later).append(seconds)
        if full:
            self.rate = sum(self.full) / len(self.full) / work

    def per_frame(self, full_work: float) -> float:
        """Estimated seconds of each frame still to come."""
        if self.independent:
            done = self.full
            if done:
                return sum(done) / len(done)
            return 0.0 if self.rate is None else self.rate * full_work
        if self.later:
            return sum(self.later) / len(self.later)
        return 0.0 if self.rate is None else self.rate * self.later_work


def stylize_video_frames(
    input_path: PathLike,
    styles: list[Image.Image],
    output: PathLike,
    settings: Settings,
    options: VideoOptions | None = None,
    *,
    networks: NetworkCache | None = None,
) -> Iterator[VideoProgress]:
    """Stylise a video (or a folder of frames) into ``output``, frame by frame.

    A generator: nothing happens until it is iterated. It yields a :class:`VideoProgress` per
    optimisation step and per finished frame, and a last one with ``done`` once the output is
    complete. Closing it early (or an exception inside it, Ctrl-C included) finalises the
    output with the frames finished so far, which stay in the work folder for ``resume``.

    Args:
        input_path: A video file FFmpeg reads, or a folder of PNG/JPEG frames.
        styles: One or more paintings (RGB), blended by ``settings.style_blend``.
        output: The output video (``.mp4``, ``.mov``, ``.mkv``, ``.webm``, ``.gif``) or a
            folder of PNG frames; the input's audio is carried over where the format has audio.
        settings: The still-image settings (size, weights, layers, colour, device, ...) and
            ``temporal_weight``.
        options: Video options (see :class:`VideoOptions`).
        networks: The network cache (default: the process's).

    Yields:
        :class:`VideoProgress` reports.

    Raises:
        RestyleError: With a one-line message for a bad input (not a video, empty, audio
            only, too large, nothing in the range), a bad output path (the input itself, a
            missing folder, an unknown extension), or a work folder that does not fit.
    """
    opts = options or VideoOptions()
    if not styles and opts.network in (None, ARBITRARY):
        raise RestyleError("at least one style image is needed")
    out_path = check_video_output(output, [input_path])
    reader = read_frames(input_path, start=opts.start, duration=opts.duration, fps=opts.fps)
    with reader, contextlib.ExitStack() as stack:
        info = reader.info
        width, height = output_size(
            info.width, info.height, settings.size, settings.width, settings.height
        )
        if min(width, height) < 16:
            raise RestyleError(
                f"the output frames would be {width}x{height}: at least 16 px a side is needed"
            )
        work_path = Path(opts.work_dir) if opts.work_dir else default_work_dir(out_path)
        if work_path.resolve() == out_path:
            raise RestyleError(f"the work folder cannot be the output: {_show(work_path)}")
        work = _WorkFolder(
            work_path, _record(input_path, styles, settings, opts, (width, height)), opts.resume
        )
        yield from _frames(
            reader, styles, settings, opts, networks, stack, work, out_path, input_path,
            (width, height),
        )  # fmt: skip


def _frames(
    reader: FrameReader,
    styles: list[Image.Image],
    settings: Settings,
    opts: VideoOptions,
    networks: NetworkCache | None,
    stack: contextlib.ExitStack,
    work: _WorkFolder,
    out_path: Path,
    input_path: PathLike,
    size: tuple[int, int],
) -> Iterator[VideoProgress]:
    info = reader.info
    width, height = size
    frames = _expected_frames(reader, opts)
    frame_settings = settings  # what each frame's StyleRun gets
    later_settings = settings.replace(multiscale=False, iterations=opts.frame_iterations)
    independent = opts.independent or opts.network is not None
    clock = _Clock(width, height, opts.frame_iterations, independent)
    # A model file is read (and checked) before anything is written.
    painter = open_model(opts.network) if opts.network not in (None, ARBITRARY) else None
    painter_settings = settings.replace(width=width, height=height)
    began = time.perf_counter()
    writer: VideoWriter | None = None
    previous: tuple[Image.Image, Image.Image] | None = None  # (input frame, result), both small
    done = 0
    index = -1
    for frame in reader:
        index = frame.index
        frames = max(frames, index + 1)
        small = resize(frame.image, width, height)
        if writer is None:
            audio = input_path if info.has_audio and not info.is_folder else None
            writer = stack.enter_context(
                VideoWriter(
                    out_path, info.fps, width, height, audio_from=audio,
                    audio_start=frame.time, audio_duration=opts.duration,
                )
            )  # fmt: skip
            if settings.color == "histogram":
                # the paintings' colours matched to the first frame once (see the module doc)
                first = to_tensor(small)
                styles = [to_pil(color.match_histogram(to_tensor(s), first)) for s in styles]
                frame_settings = settings.replace(color="none")
                later_settings = later_settings.replace(color="none")
                painter_settings = painter_settings.replace(color="none")
            if opts.network == ARBITRARY:  # after the paintings' colours are matched
                painter = Painter(ARBITRARY, None, list(styles), {})

        report = functools.partial(
            _report, began, frame=index, frames=frames, time=frame.time, width=width,
            height=height,
        )  # fmt: skip

        if index < work.done:
            result = work.load(index, (width, height))
            writer.write(result)
            done += 1
            previous = (small, result)
            yield report(frames_done=done, frame_done=True, resumed=True, image=result)
            continue

        t0 = time.perf_counter()
        frames_after = max(0, frames - index - 1)
        # A painted frame costs the same whatever came before: the clock counts it as a full
        # frame of one unit of work (see the clock's ``independent``).
        full, work_total = True, 1.0
        if painter is not None:
            result = painter.paint(small, painter_settings)
            if previous is not None and not opts.independent and opts.blend > 0:
                result = _blended(result, small, previous, opts)
        else:
            full = previous is None or opts.independent
            if full:
                run = StyleRun(small, styles, frame_settings, networks=networks)
            else:
                assert previous is not None
                tie = _consistency(small, previous[0], previous[1], later_settings, opts)
                run = StyleRun(
                    small, styles, later_settings, networks=networks,
                    start=tie.start, extra_terms=_terms_at(tie.term),
                )  # fmt: skip
            work_total = _frame_work(run)
            for p in run:
                if full:
                    clock.measure(p, work_total)
                eta = p.eta + frames_after * clock.per_frame(work_total)
                yield report(frames_done=done, step=p, eta=eta)
            result = run.image()
        work.save(index, result)
        writer.write(result)
        seconds = time.perf_counter() - t0
        clock.finished(full, seconds, work_total)
        done += 1
        previous = (small, result)
        yield report(
            frames_done=done,
            frame_done=True,
            frame_seconds=seconds,
            eta=frames_after * clock.per_frame(work_total),
            image=result,
        )
    if writer is not None:
        writer.close()
    if not opts.keep_frames:
        work.remove()
    yield VideoProgress(
        frame=max(index, 0), frames=done, frames_done=done, time=0.0, width=width,
        height=height, elapsed=time.perf_counter() - began, done=True,
    )  # fmt: skip


def _report(began: float, **fields: Any) -> VideoProgress:
    return VideoProgress(elapsed=time.perf_counter() - began, **fields)


def _terms_at(term: TemporalTerm) -> Callable[[int, int], Sequence[Term]]:
    """The ``extra_terms`` of a later frame's run: the temporal term at each scale's size."""

    def terms(width: int, height: int) -> Sequence[Term]:
        return [term.at(width, height)]

    return terms


# ----- scoring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoScores:
    """The warping error (Lai et al. 2018) of an output video and of its input.

    Attributes:
        output: Mean warping error of the output's consecutive frames (lower: less flicker).
        input: The input's own warping error at the output's size: the floor (what a video
            that moves exactly like the input, with no flicker of its own, would score).
        pairs: Frame pairs measured.
        width: Width the errors were measured at (the output's).
        height: Their height.
    """

    output: float
    input: float
    pairs: int
    width: int
    height: int

    @property
    def ratio(self) -> float:
        """``output / input``: 1 is as stable as the input itself."""
        return self.output / self.input if self.input > 0 else math.inf


def video_warping_error(
    output: PathLike,
    input_path: PathLike,
    *,
    start: float = 0.0,
    fps: float | None = None,
    preset: str = DEFAULT_PRESET,
) -> VideoScores:
    """Warping error of a stylised video beside its input's own (the floor).

    Frame t of the output is paired with frame t of the input from ``start`` on (the output
    may be shorter, e.g. made with a duration); input frames are resized to the output's size.
    For each consecutive pair, the flow and the occlusion mask (the binary reliability) come
    from the input, and both the output and the input are scored with them.

    Args:
        output: The stylised video (or folder of frames).
        input_path: The video it was made from.
        start: Where in the input the output begins, in seconds.
        fps: Frame rate of folders of frames (times only).
        preset: The DIS preset of the flow.

    Returns:
        The :class:`VideoScores`.

    Raises:
        RestyleError: For unreadable videos, or fewer than two frames to compare.
    """
    if preset not in PRESETS:
        raise RestyleError(f"flow preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    flow_preset: Any = preset
    out_errors: list[float] = []
    in_errors: list[float] = []
    size = (0, 0)
    outputs = read_frames(output, fps=fps)
    inputs = read_frames(input_path, start=start, fps=fps)
    previous: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None
    with outputs, inputs:
        for out_frame in outputs:
            in_frame = next(inputs, None)
            if in_frame is None:
                break
            out_img = out_frame.image
            size = out_img.size
            now = (_float_image(out_img), _float_image(resize(in_frame.image, *size)))
            if previous is not None:
                flow = optical_flow(previous[1], now[1], preset=flow_preset)
                back = optical_flow(now[1], previous[1], preset=flow_preset)
                mask = reliability(flow, back, sigma=0)
                out_errors.append(pair_warping_error(previous[0], now[0], flow, mask))
                in_errors.append(pair_warping_error(previous[1], now[1], flow, mask))
            previous = now
    if not out_errors:
        raise RestyleError(
            f"the warping error needs two frames or more of {_show(output)} and its input"
        )
    return VideoScores(
        output=float(np.mean(out_errors)),
        input=float(np.mean(in_errors)),
        pairs=len(out_errors),
        width=size[0],
        height=size[1],
    )
