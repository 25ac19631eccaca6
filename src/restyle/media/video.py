"""Video I/O: probe a clip, stream its frames as RGB images, write a video atomically with audio.

Inputs are anything FFmpeg (inside the PyAV wheel) decodes, or a folder of PNG/JPEG frames
(sorted by name, digits compared as numbers). Frames come out one at a time as 8-bit ``RGB``
PIL images, with the stream's rotation metadata applied, so memory does not grow with the
length of a clip. Times are seconds from the start of the file as a player shows them (the
container's start time is subtracted).

Outputs are chosen by the extension (:data:`VIDEO_FORMATS`): H.264 in ``.mp4``, ``.mov`` and
``.mkv``, VP9 in ``.webm`` (all ``yuv420p``, so odd sizes lose their last row or column),
an animated ``.gif`` (one palette per frame), or, for a path with no extension or ending in
``/``, a folder of numbered PNG frames. A :class:`VideoWriter` writes to a hidden temporary
file beside the target and renames it over the target when closed, also after an exception
inside its ``with`` block, so an interrupted run leaves a playable file of the frames written
so far and never a half-written one. The audio of another file is carried over: its packets
are copied when the container accepts the codec, else transcoded (AAC, or Opus for WebM).

PyAV is imported inside the functions that use it, so importing this module stays cheap.
FFmpeg's own log output is off (PyAV's default), so nothing is printed.

Example:
    >>> from restyle.media.video import VideoWriter, probe, read_frames
    >>> info = probe("clip.mp4")  # doctest: +SKIP
    >>> with VideoWriter("out.mp4", info.fps, info.width, info.height,
    ...                  audio_from="clip.mp4") as out:  # doctest: +SKIP
    ...     for frame in read_frames("clip.mp4"):
    ...         out.write(frame.image)
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import numpy as np
from PIL import Image

from ..config import MAX_SIZE
from ..errors import RestyleError
from .image import (
    _detail,
    _fsync_folder,
    _same_file,
    _show,
    create_temp,
    load_image,
    save_image,
    stat_input,
)

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.audio.resampler import AudioResampler
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet
    from av.video.stream import VideoStream

__all__ = [
    "DEFAULT_FPS",
    "FRAME_EXTENSIONS",
    "VIDEO_FORMATS",
    "FrameReader",
    "PathLike",
    "VideoFrame",
    "VideoInfo",
    "VideoWriter",
    "check_video_output",
    "probe",
    "read_frames",
]

PathLike: TypeAlias = str | os.PathLike[str]
Rate: TypeAlias = int | float | Fraction

DEFAULT_FPS = Fraction(25)
"""Frame rate of a folder of frames when the caller gives none."""

FRAME_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
"""File extensions (lower case) read from a folder of frames."""

MAX_BAD_PACKETS = 100
"""Packets that fail to decode, in a row, after which a stream is taken to have ended."""

_EPS = 1e-4  # seconds: tolerance when comparing frame times with start and end


@dataclass(frozen=True)
class _Target:
    """How one output container is written."""

    format: str  # FFmpeg muxer
    video_codec: str
    pix_fmt: str
    video_options: tuple[tuple[str, str], ...]
    container_options: tuple[tuple[str, str], ...] = ()
    audio_copy: frozenset[str] = frozenset()  # audio codecs stored as they are
    audio_codec: str | None = None  # what other audio is transcoded to; None: no audio


_H264 = (("crf", "18"), ("preset", "medium"))
_MP4_AUDIO = frozenset({"aac", "mp3", "alac", "ac3", "eac3"})
_PCM = frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_s16be", "pcm_s24be"})

VIDEO_FORMATS: dict[str, _Target] = {
    ".mp4": _Target("mp4", "libx264", "yuv420p", _H264, (("movflags", "+faststart"),),
                    _MP4_AUDIO, "aac"),
    ".mov": _Target("mov", "libx264", "yuv420p", _H264, (("movflags", "+faststart"),),
                    _MP4_AUDIO | _PCM, "aac"),
    ".mkv": _Target("matroska", "libx264", "yuv420p", _H264, (),
                    _MP4_AUDIO | _PCM | {"opus", "vorbis", "flac", "dts", "truehd"}, "aac"),
    ".webm": _Target("webm", "libvpx-vp9", "yuv420p",
                     (("crf", "31"), ("b", "0"), ("row-mt", "1"), ("deadline", "good"),
                      ("cpu-used", "4")), (), frozenset({"opus", "vorbis"}), "libopus"),
    ".gif": _Target("gif", "gif", "pal8", ()),
}  # fmt: skip
"""Output extension (lower case) -> container, codecs and settings.

H.264 uses CRF 18 (visually lossless for most content) at x264's ``medium`` preset; VP9 uses
CRF 31 in constant-quality mode. MP4 and MOV are written with ``+faststart`` so browsers can
play them before the whole file has arrived. GIF and frame folders have no audio track; GIF
stores frame delays in hundredths of a second, so only rates such as 10, 20, 25 or 50 fps are
kept exactly (others play at nearby delays), and it has one 256-colour palette per frame.
"""


# --------------------------------------------------------------------------------------------
# Public data


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a clip without decoding more than its first frame.

    Attributes:
        path: The path that was probed.
        width: Width of the frames as displayed (after rotation), in pixels.
        height: Height as displayed, in pixels.
        fps: Average frame rate (frames per second).
        time_base: The video stream's time base (seconds per timestamp tick); ``1/fps``
            for a folder of frames.
        frames: Number of frames: from the container's header when it stores one (MP4,
            MOV, GIF), else estimated as ``round(duration * fps)``; see ``frames_exact``.
        frames_exact: Whether ``frames`` was counted rather than estimated.
        duration: Length of the video stream in seconds (0.0 when unknown).
        rotation: Degrees (0, 90, 180 or 270) by which the coded picture is rotated
            counterclockwise for display, as FFmpeg's display matrix says; frames from
            :func:`read_frames` come with it applied.
        has_audio: Whether the file has an audio stream.
        audio_codec: That stream's codec name, or None.
        codec: The video codec's name (``"h264"``, ...); ``"png"`` or ``"mjpeg"`` for a
            folder of frames (the first frame's format).
        variable_frame_rate: True when the average frame rate and the stream's base
            frame rate disagree by more than 1 %, a sign of a variable-rate recording (such
            frames keep their own times in :func:`read_frames`).
        is_folder: Whether the input is a folder of frames.
    """

    path: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: int
    frames_exact: bool
    duration: float
    rotation: int
    has_audio: bool
    audio_codec: str | None
    codec: str
    variable_frame_rate: bool
    is_folder: bool = False


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: Position in the sequence :func:`read_frames` yields (0 for the first frame at
            or after ``start``).
        time: Presentation time in seconds from the start of the file.
        image: The picture, 8-bit ``RGB``, rotation applied.
    """

    index: int
    time: float
    image: Image.Image


# --------------------------------------------------------------------------------------------
# Opening inputs


def _check_input_path(path: PathLike) -> os.stat_result:
    """stat() an input, turning every failure into a one-line RestyleError."""
    shown = _show(path)
    info = stat_input(path, "input video", shown)
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise RestyleError(f"input video is an empty file (0 bytes): {shown}")
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise RestyleError(f"input video is not a regular file: {shown}")
    return info


def _open_input(path: PathLike) -> InputContainer:
    """``av.open`` for reading, with its failures as RestyleError."""
    import av

    shown = _show(path)
    try:
        return av.open(os.fspath(path), "r")
    except PermissionError:
        raise RestyleError(f"input video cannot be read (permission denied): {shown}") from None
    except av.error.InvalidDataError:
        raise RestyleError(f"not a video file FFmpeg can read (or corrupt): {shown}") from None
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise RestyleError(f"input video cannot be opened: {shown} ({_detail(exc)})") from None


def _video_stream(container: InputContainer, shown: str) -> VideoStream:
    """The first real video stream (cover art does not count), checked for size."""
    streams = [s for s in container.streams.video if not s.disposition & s.disposition.attached_pic]
    if not streams:
        if container.streams.audio:
            raise RestyleError(f"input has no video, only audio: {shown}")
        raise RestyleError(f"input has no video stream: {shown}")
    stream = streams[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if max(width, height) > MAX_SIZE:
        raise RestyleError(
            f"input video is too large: {shown} is {width}x{height}, the limit is "
            f"{MAX_SIZE} pixels per side"
        )
    return stream


def _origin(container: InputContainer) -> float:
    """The container's start time in seconds (timestamps are shown relative to it)."""
    start = container.start_time
    return start / 1_000_000 if start is not None and start > 0 else 0.0


def _stream_rate(stream: VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return DEFAULT_FPS


def _stream_duration(stream: VideoStream, container: InputContainer) -> float:
    """Seconds: the stream's own duration, Matroska's per-stream tag, or the container's."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tagged = _parse_clock(stream.metadata.get("DURATION", ""))
    if tagged is not None:
        return tagged
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _parse_clock(text: str) -> float | None:
    """``"00:01:02.500000000"`` -> 62.5; None if the text is not such a time."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d*)?)", text.strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _rotate(image: Image.Image, degrees: int) -> Image.Image:
    """Rotate counterclockwise by a multiple of 90 degrees (others are rounded to one)."""
    turns = round(degrees / 90) % 4
    if turns == 0:
        return image
    method = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
              Image.Transpose.ROTATE_270)[turns]  # fmt: skip
    assert method is not None
    return image.transpose(method)


def _normal_rotation(degrees: float) -> int:
    return (round(degrees / 90) % 4) * 90


# --------------------------------------------------------------------------------------------
# Folders of frames


def _natural_key(name: str) -> list[Any]:
    """``frame2.png`` sorts before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _frame_files(folder: PathLike) -> list[Path]:
    shown = _show(folder)
    try:
        entries = [p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_EXTENSIONS]
    except OSError as exc:
        raise RestyleError(f"input folder cannot be read: {shown} ({_detail(exc)})") from None
    files = sorted((p for p in entries if p.is_file()), key=lambda p: _natural_key(p.name))
    if not files:
        raise RestyleError(f"input folder has no PNG or JPEG frames: {shown}")
    return files


def _as_rate(fps: Rate | None) -> Fraction:
    if fps is None:
        return DEFAULT_FPS
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)):
        raise RestyleError(f"frame rate must be a number, got {fps!r}")
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        raise RestyleError(f"frame rate must be between 0 and 1000 frames per second, got {fps}")
    return fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)


def _probe_folder(path: PathLike, fps: Fraction) -> VideoInfo:
    files = _frame_files(path)
    first = load_image(files[0], role="video frame")
    width, height = first.size
    if max(width, height) > MAX_SIZE:
        raise RestyleError(
            f"input frames are too large: {_show(files[0])} is {width}x{height}, the limit is "
            f"{MAX_SIZE} pixels per side"
        )
    return VideoInfo(
        path=os.fspath(path),
        width=width,
        height=height,
        fps=fps,
        time_base=1 / fps,
        frames=len(files),
        frames_exact=True,
        duration=float(len(files) / fps),
        rotation=0,
        has_audio=False,
        audio_codec=None,
        codec="png" if files[0].suffix.lower() == ".png" else "mjpeg",
        variable_frame_rate=False,
        is_folder=True,
    )


def _read_folder(
    path: PathLike, fps: Fraction, start: float, end: float | None
) -> Iterator[VideoFrame]:
    files = _frame_files(path)
    size: tuple[int, int] | None = None
    index = 0
    for number, file in enumerate(files):
        time = float(number / fps)
        if time < start - _EPS:
            continue
        if end is not None and time >= end - _EPS:
            break
        image = load_image(file, role="video frame")
        if size is None:
            size = image.size
        elif image.size != size:
            raise RestyleError(
                f"video frames differ in size: {_show(file)} is {image.size[0]}x"
                f"{image.size[1]}, the first frame is {size[0]}x{size[1]}"
            )
        yield VideoFrame(index, time, image)
        index += 1


# --------------------------------------------------------------------------------------------
# Probing


def probe(path: PathLike, *, fps: Rate | None = None) -> VideoInfo:
    """Describe a video file or a folder of frames, decoding at most its first frame.

    Args:
        path: A video file FFmpeg can read, or a folder of PNG/JPEG frames.
        fps: Frame rate of a folder of frames (default :data:`DEFAULT_FPS`); ignored for
            video files, which carry their own.

    Returns:
        The clip's :class:`VideoInfo`.

    Raises:
        RestyleError: With a one-line message when the path is missing, empty, not a video,
            audio only, has no decodable frame, or has a side over
            :data:`restyle.config.MAX_SIZE`.
    """
    info = _check_input_path(path)
    if stat.S_ISDIR(info.st_mode):
        return _probe_folder(path, _as_rate(fps))
    return _probe_file(path)


def _probe_file(path: PathLike) -> VideoInfo:
    shown = _show(path)
    with _open_input(path) as container:
        stream = _video_stream(container, shown)
        with contextlib.closing(_decode_stream(container, stream)) as frames:
            first = next(frames, None)
        if first is None:
            raise RestyleError(f"input video has no frame that can be decoded: {shown}")
        rate = _stream_rate(stream)
        duration = _stream_duration(stream, container)
        rotation = _normal_rotation(first.rotation)
        turned = rotation in (90, 270)
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=os.fspath(path),
            width=first.height if turned else first.width,
            height=first.width if turned else first.height,
            fps=rate,
            time_base=Fraction(stream.time_base) if stream.time_base else 1 / rate,
            frames=stream.frames if stream.frames > 0 else max(1, round(duration * rate)),
            frames_exact=stream.frames > 0,
            duration=duration,
            rotation=rotation,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            codec=stream.codec_context.name,
            variable_frame_rate=_looks_variable(stream.base_rate, rate),
        )


def _looks_variable(base: Fraction | None, average: Fraction) -> bool:
    """True when the base (lowest common) frame rate and the average differ by over 1 %."""
    return base is not None and base > 0 and abs(float(base / average) - 1) > 0.01


# --------------------------------------------------------------------------------------------
# Reading


def _decode_stream(container: InputContainer, stream: VideoStream) -> Generator[Any, None, None]:
    """Decoded ``av.VideoFrame`` objects; packets that fail to decode are skipped.

    Gives up after :data:`MAX_BAD_PACKETS` bad packets in a row, or when the demuxer fails
    (a file cut short), as if the stream had ended there.
    """
    import av

    bad = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.error.FFmpegError, OSError):
            return
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError):
            bad += 1
            if bad > MAX_BAD_PACKETS:
                return
            continue
        bad = 0
        yield from frames


class FrameReader(Iterator[VideoFrame]):
    """The iterator :func:`read_frames` returns: frames one at a time, plus what is known.

    Use it in a ``with`` block (or call :meth:`close`) to release the file early when not
    every frame is read; it is closed anyway when exhausted.

    Attributes:
        info: The clip's :class:`VideoInfo` (from :func:`probe`).
        frames_read: How many frames have been yielded so far.
    """

    def __init__(self, info: VideoInfo, frames: Iterator[VideoFrame]) -> None:
        self.info = info
        self.frames_read = 0
        self._frames = frames

    def __iter__(self) -> FrameReader:
        return self

    def __next__(self) -> VideoFrame:
        frame = next(self._frames)
        self.frames_read += 1
        return frame

    def close(self) -> None:
        """Stop reading and close the file (idempotent)."""
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_frames(
    path: PathLike,
    *,
    start: float = 0.0,
    duration: float | None = None,
    fps: Rate | None = None,
) -> FrameReader:
    """Stream the frames of a video file or a folder of frames as RGB images.

    Decoding is lazy and holds one frame at a time. Packets that fail to decode are
    skipped, and a file cut short ends where it was cut; the reader raises only when no
    frame at all could be decoded in the requested range.

    Args:
        path: A video file FFmpeg can read, or a folder of PNG/JPEG frames (sorted by name,
            digits compared as numbers; all frames must have the same size).
        start: First time to read, in seconds from the start of the file; frames before
            it are skipped (the file is first seeked to the key frame before ``start``).
        duration: How many seconds to read from ``start``; None reads to the end. Frames with
            ``start <= time < start + duration`` are returned.
        fps: Frame rate of a folder of frames (default :data:`DEFAULT_FPS`), which sets
            their times; ignored for video files.

    Returns:
        A :class:`FrameReader`: an iterator of :class:`VideoFrame` that also holds the
        clip's :class:`VideoInfo`.

    Raises:
        RestyleError: At the call for a bad path, file or range (see :func:`probe`); while
            iterating, when no frame in the range can be decoded, or a folder's frames
            differ in size or cannot be read.
    """
    start, end = _check_range(start, duration)
    info = probe(path, fps=fps)
    if info.is_folder:
        frames = _read_folder(path, info.fps, start, end)
    else:
        frames = _read_video(path, info, start, end)
    return FrameReader(info, _require_some(frames, info, start, end))


def _check_range(start: float, duration: float | None) -> tuple[float, float | None]:
    if not math.isfinite(start) or start < 0:
        raise RestyleError(f"start time must be 0 or more seconds, got {start}")
    if duration is None:
        return float(start), None
    if not math.isfinite(duration) or duration <= 0:
        raise RestyleError(f"duration must be more than 0 seconds, got {duration}")
    return float(start), float(start + duration)


def _require_some(
    frames: Iterator[VideoFrame], info: VideoInfo, start: float, end: float | None
) -> Iterator[VideoFrame]:
    """Pass frames through; raise if there were none."""
    count = 0
    try:
        for frame in frames:
            count += 1
            yield frame
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    if count == 0:
        shown = _show(info.path)
        if start > 0 or end is not None:
            span = f"{start:g} s to {'the end' if end is None else f'{end:g} s'}"
            raise RestyleError(
                f"no frame of {shown} could be decoded from {span} "
                f"(the video is {info.duration:.3g} s long)"
            )
        raise RestyleError(f"input video has no frame that can be decoded: {shown}")


def _read_video(
    path: PathLike, info: VideoInfo, start: float, end: float | None
) -> Iterator[VideoFrame]:
    shown = _show(path)
    with _open_input(path) as container:
        stream = _video_stream(container, shown)
        stream.thread_type = "AUTO"
        origin = _origin(container)
        if start > 0:
            _seek(container, stream, origin + start)
        step = float(1 / info.fps)
        index = 0
        last = -step  # a frame without a timestamp comes one frame after the last one
        for frame in _decode_stream(container, stream):
            time = frame.time - origin if frame.time is not None else last + step
            last = time
            if time < start - _EPS:
                continue
            if end is not None and time >= end - _EPS:
                break
            image = _rotate(_to_pil(frame), frame.rotation)
            yield VideoFrame(index, time, image)
            index += 1


def _to_pil(frame: Any) -> Image.Image:
    """An ``av.VideoFrame`` as an RGB PIL image, honouring a full-range ("JPEG") tag."""
    if frame.color_range:
        return frame.to_image(src_color_range=frame.color_range)  # type: ignore[no-any-return]
    return frame.to_image()  # type: ignore[no-any-return]


def _seek(container: InputContainer, stream: VideoStream, seconds: float) -> None:
    """Seek to the key frame at or before ``seconds``; on failure, decode from the start."""
    import av

    if stream.time_base is None:
        return
    with contextlib.suppress(av.error.FFmpegError, OSError):
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)


# --------------------------------------------------------------------------------------------
# Output paths


def _is_folder_path(path: PathLike) -> bool:
    text = os.fspath(path)
    if text.endswith(("/", os.sep)):
        return True
    p = Path(text)
    return p.is_dir() or not p.suffix


def _supported_list() -> str:
    return ", ".join(sorted(VIDEO_FORMATS)) + " or a folder"


def check_video_output(path: PathLike, inputs: Sequence[PathLike | None] = ()) -> Path:
    """Validate a video output path before a long run starts.

    A path with no extension, ending in ``/``, or naming an existing folder is a folder of
    PNG frames (created by :class:`VideoWriter` if missing; its parent must exist).

    Args:
        path: Where the video (or the folder of frames) will be written.
        inputs: The run's input videos or frame folders (None items are skipped).

    Returns:
        The resolved output path.

    Raises:
        RestyleError: If the extension is not one of :data:`VIDEO_FORMATS`, the folder it
            goes in is missing or not writable, the path is taken by something of the other
            kind (a folder for a file, a file for a folder), or it is one of ``inputs``.
    """
    shown = _show(path)
    folder_output = _is_folder_path(path)
    p = Path(path)
    if not folder_output and p.suffix.lower() not in VIDEO_FORMATS:
        raise RestyleError(
            f"unsupported video output type {p.suffix!r}: {shown} (use {_supported_list()})"
        )
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError) as exc:
        raise RestyleError(f"output path cannot be resolved: {shown} ({_detail(exc)})") from None
    parent = resolved.parent
    if not parent.is_dir():
        raise RestyleError(f"output folder does not exist: {_show(parent)} (for {shown})")
    if folder_output and resolved.exists() and not resolved.is_dir():
        raise RestyleError(f"output path for frames exists and is not a folder: {shown}")
    if not folder_output and resolved.exists() and not resolved.is_file():
        raise RestyleError(f"output path exists and is not a regular file: {shown}")
    writable = resolved if folder_output and resolved.is_dir() else parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise RestyleError(f"output folder is not writable: {_show(writable)} (for {shown})")
    for item in inputs:
        if item is not None and _same_file(resolved, item):
            raise RestyleError(f"output path is the same as the input video: {shown}")
    return resolved


# --------------------------------------------------------------------------------------------
# Writing


class VideoWriter:
    """Write frames to a video file (or a folder of PNG frames), atomically, with audio.

    Use as a context manager. Frames go to a hidden temporary file in the destination folder,
    which :meth:`close` finalises (encoder flushed, audio carried up to the last frame, file
    synced) and renames over ``path``. Leaving the ``with`` block through an exception
    (Ctrl-C included) still finalises the frames written so far into a playable file, then
    the exception goes on; if no frame was written, nothing is created. A folder of frames
    gets ``frame_000001.png``, ``frame_000002.png``, ... each written atomically (files
    already in the folder are overwritten when their names come up, never removed).

    Attributes:
        path: The resolved output path.
        fps: The frame rate.
        size: ``(width, height)`` as encoded: the requested size, less one pixel on an odd
            side for ``yuv420p`` formats (the last column or row is dropped).
        frames_written: How many frames :meth:`write` has taken.
        audio: ``"copy"`` when the audio packets are copied as they are, ``"transcode"``
            when they are re-encoded, None when there is no audio track.
    """

    def __init__(
        self,
        path: PathLike,
        fps: Rate,
        width: int,
        height: int,
        *,
        audio_from: PathLike | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
    ) -> None:
        """Check the output path and open the output (and the audio source).

        Args:
            path: Output file (its extension picks the format, see :data:`VIDEO_FORMATS`) or
                folder of frames.
            fps: Frame rate (an int, a float such as 29.97, or a Fraction such as
                ``Fraction(30000, 1001)``).
            width: Width of the frames that :meth:`write` will get.
            height: Their height.
            audio_from: A file whose first audio track is carried over (usually the input
                video); ignored for GIF and folder outputs, and when it has no audio.
            audio_start: Where in ``audio_from`` the audio starts, in seconds: the time of
                the first frame that will be written (``frame.time`` of the first frame
                from :func:`read_frames`), so sound and picture stay in sync.
            audio_duration: How many seconds of audio at most; the track never runs past the
                last frame written either.

        Raises:
            RestyleError: For a bad output path (see :func:`check_video_output`), a size
                outside 1..MAX_SIZE (2.. for yuv420p formats), a bad frame rate, or an
                ``audio_from`` that cannot be read.
        """
        self.path = check_video_output(path, [audio_from])
        self.fps = _as_rate(fps)
        self.frames_written = 0
        self.audio: Literal["copy", "transcode"] | None = None
        self._shown = _show(path)
        self._closed = False
        self._folder = _is_folder_path(path)
        self._target = None if self._folder else VIDEO_FORMATS[self.path.suffix.lower()]
        self._width, self._height = width, height
        self.size = self._encoded_size(width, height)
        self._tmp: Path | None = None
        self._out: OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._audio: _AudioCarrier | None = None
        if self._folder:
            self._make_folder()
        else:
            self._open_container(audio_from, audio_start, audio_duration)

    # -- setup

    def _encoded_size(self, width: int, height: int) -> tuple[int, int]:
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise RestyleError(f"video {name} must be an integer, got {value!r}")
        even = self._target is not None and self._target.pix_fmt == "yuv420p"
        size = (width - width % 2, height - height % 2) if even else (width, height)
        low = 2 if even else 1
        if min(size) < low or max(width, height) > MAX_SIZE:
            raise RestyleError(
                f"video size must be {low} to {MAX_SIZE} pixels per side, got "
                f"{width}x{height}: {self._shown}"
            )
        return size

    def _make_folder(self) -> None:
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise RestyleError(
                f"cannot create output folder: {self._shown} ({_detail(exc)})"
            ) from None

    def _open_container(
        self, audio_from: PathLike | None, audio_start: float, audio_duration: float | None
    ) -> None:
        import av

        target = self._target
        assert target is not None
        tmp, fd = create_temp(self.path.parent, self.path.name, self._shown)
        os.close(fd)
        self._tmp = tmp
        try:
            self._out = av.open(
                os.fspath(tmp), "w", format=target.format, options=dict(target.container_options)
            )
            self._stream = self._add_video_stream(self._out, target)
            if audio_from is not None and target.audio_codec is not None:
                self._audio = _AudioCarrier.open(
                    audio_from, self._out, target, audio_start, audio_duration
                )
                self.audio = None if self._audio is None else self._audio.mode
        except BaseException as exc:
            self._discard()
            if isinstance(exc, (av.error.FFmpegError, OSError)):
                raise RestyleError(
                    f"cannot write output video: {self._shown} ({_detail(exc)})"
                ) from None
            raise

    def _add_video_stream(self, out: OutputContainer, target: _Target) -> VideoStream:
        options = dict(target.video_options)
        stream = cast("VideoStream", out.add_stream(target.video_codec, self.fps, options))
        stream.width, stream.height = self.size
        stream.pix_fmt = target.pix_fmt
        stream.time_base = 1 / self.fps
        if target.pix_fmt == "yuv420p":
            ctx = stream.codec_context
            ctx.color_range = 1  # limited ("TV") range
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # BT.709
        return stream

    # -- writing

    def write(self, image: Image.Image) -> None:
        """Append one frame.

        Args:
            image: A PIL image of exactly the ``width`` x ``height`` given at construction
                (converted to RGB if needed).

        Raises:
            ValueError: If the image has another size, or the writer is closed.
            RestyleError: If the disk write fails.
        """
        if self._closed:
            raise ValueError("write() on a closed VideoWriter")
        if image.size != (self._width, self._height):
            raise ValueError(
                f"frame is {image.size[0]}x{image.size[1]}, the video is "
                f"{self._width}x{self._height}"
            )
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if rgb.size != self.size:
            rgb = rgb.crop((0, 0, *self.size))
        if self._folder:
            name = f"frame_{self.frames_written + 1:06d}.png"
            save_image(rgb, self.path / name)
        else:
            self._encode(rgb)
        self.frames_written += 1

    def _encode(self, rgb: Image.Image) -> None:
        import av

        assert self._out is not None and self._stream is not None
        frame = _to_av_frame(rgb, self._stream.pix_fmt or "")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        try:
            self._out.mux(self._stream.encode(frame))
            if self._audio is not None:
                self._audio.carry(float((self.frames_written + 1) / self.fps))
        except (av.error.FFmpegError, OSError) as exc:
            raise RestyleError(
                f"cannot write output video: {self._shown} ({_detail(exc)})"
            ) from None

    # -- closing

    def close(self) -> None:
        """Finalise the file and rename it over ``path`` (idempotent).

        Raises:
            RestyleError: If no frame was written (nothing is created), or finalising fails
                (the temporary file is removed).
        """
        if self._closed:
            return
        self._closed = True
        if self._folder:
            if self.frames_written == 0:
                raise RestyleError(f"no frames were written to {self._shown}")
            return
        if self.frames_written == 0:
            self._discard()
            raise RestyleError(f"no frames were written, so no video was made: {self._shown}")
        try:
            self._finish()
        except BaseException as exc:
            self._discard()
            if isinstance(exc, (OSError, ValueError)):  # av errors are OSError/ValueError
                raise RestyleError(
                    f"cannot write output video: {self._shown} ({_detail(exc)})"
                ) from None
            raise

    def _finish(self) -> None:
        assert self._out is not None and self._stream is not None and self._tmp is not None
        self._out.mux(self._stream.encode(None))
        if self._audio is not None:
            self._audio.finish(float(self.frames_written / self.fps))
            self._audio = None
        self._out.close()
        self._out = None
        with open(self._tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp, self.path)
        self._tmp = None
        _fsync_folder(self.path.parent)

    def discard(self) -> None:
        """Close without creating the output: the temporary file is removed (idempotent)."""
        self._closed = True
        self._discard()

    def _discard(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.close()
            self._out = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        if self.frames_written == 0:
            self.discard()
            return
        with contextlib.suppress(RestyleError):
            self.close()  # keep what was written; the original exception goes on


def _to_av_frame(rgb: Image.Image, pix_fmt: str) -> Any:
    """A PIL RGB image as an ``av.VideoFrame``: pal8 with its own palette for GIF."""
    import av

    if pix_fmt != "pal8":
        frame = av.VideoFrame.from_ndarray(np.asarray(rgb), format="rgb24")
        # BT.709, limited range: what the stream is tagged with (players assume it for HD)
        return frame.reformat(format=pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
    quantized = rgb.quantize(256, method=Image.Quantize.MEDIANCUT)
    colours = np.asarray(quantized.getpalette(rawmode="RGB"), dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)  # PyAV takes ARGB rows
    palette[:, 0] = 255
    palette[: len(colours), 1:] = colours[:256]
    pair: Any = (np.asarray(quantized), palette)
    return av.VideoFrame.from_ndarray(pair, format="pal8")


# --------------------------------------------------------------------------------------------
# Audio


class _AudioCarrier:
    """Moves the audio of one input into an output, interleaved with the video as it grows.

    Input times ``[start, end)`` (seconds from the input's start) become output times from 0.
    Packets (copy) or decoded frames (transcode) are kept whole: the cut is accurate to one
    audio frame (about 20 ms).
    """

    def __init__(
        self,
        source: InputContainer,
        stream: AudioStream,
        output: OutputContainer,
        out_stream: AudioStream,
        mode: Literal["copy", "transcode"],
        start: float,
        end: float | None,
    ) -> None:
        self.mode: Literal["copy", "transcode"] = mode
        self._source = source
        self._output = output
        self._out_stream = out_stream
        self._origin = _origin(source) + start  # input time of output time 0
        self._end = None if end is None else end - start  # in output time
        self._packets = source.demux(stream)
        self._pending: deque[Any] = deque()  # packets or frames not muxed yet
        self._resampler: AudioResampler | None = None
        self._samples = 0
        self._done = False

    @classmethod
    def open(
        cls,
        source: PathLike,
        output: OutputContainer,
        target: _Target,
        start: float,
        duration: float | None,
    ) -> _AudioCarrier | None:
        """Open ``source`` and add the matching audio stream to ``output``; None if silent."""
        start, end = _check_range(start, duration)
        _check_input_path(source)
        container = _open_input(source)
        if not container.streams.audio:
            container.close()
            return None
        stream = container.streams.audio[0]
        try:
            if stream.codec_context.name in target.audio_copy:
                out_stream = output.add_stream_from_template(stream)
                return cls(container, stream, output, out_stream, "copy", start, end)
            out_stream = _add_audio_encoder(output, target, stream)
            return cls(container, stream, output, out_stream, "transcode", start, end)
        except BaseException:
            container.close()
            raise

    def carry(self, until: float) -> None:
        """Mux the audio up to output time ``until`` (seconds)."""
        limit = until if self._end is None else min(until, self._end)
        for item in self._items(limit):
            if self.mode == "copy":
                self._mux_packet(item)
            else:
                self._encode(item)

    def finish(self, until: float) -> None:
        """Carry the audio to ``until``, flush the encoder and close the source."""
        try:
            self.carry(until)
            if self.mode == "transcode":
                self._encode(None)
                self._output.mux(self._out_stream.encode(None))
        finally:
            self.close()

    def close(self) -> None:
        self._source.close()

    def _time(self, item: Any) -> float | None:
        """Output time of a packet or frame, or None if it has no timestamp."""
        if item.pts is None or item.time_base is None:
            return None
        return float(item.pts * item.time_base) - self._origin

    def _items(self, limit: float) -> Iterator[Any]:
        """Packets or decoded frames whose output time is in ``[0, limit)``."""
        while True:
            if not self._pending and not self._refill():
                return
            item = self._pending[0]
            time = self._time(item)
            if time is not None and time >= limit - _EPS:
                return
            self._pending.popleft()
            if time is not None and time >= -_EPS:
                yield item

    def _refill(self) -> bool:
        """Read the next packet (decoded in transcode mode) into ``_pending``."""
        import av

        while not self._done and not self._pending:
            try:
                packet = next(self._packets)
            except (StopIteration, av.error.FFmpegError, OSError):
                self._done = True
                break
            if self.mode == "copy":
                if packet.size and packet.pts is not None:
                    self._pending.append(packet)
                continue
            with contextlib.suppress(av.error.FFmpegError, ValueError):
                self._pending.extend(packet.decode())
        return bool(self._pending)

    def _mux_packet(self, packet: Packet[Any]) -> None:
        shift = round(self._origin / packet.time_base) if packet.time_base else 0
        packet.pts = (packet.pts or 0) - shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = self._out_stream
        self._output.mux(packet)

    def _encode(self, frame: AudioFrame | None) -> None:
        if self._resampler is None:
            import av

            ctx = self._out_stream.codec_context
            self._resampler = av.AudioResampler(
                format=ctx.format, layout=ctx.layout, rate=ctx.sample_rate,
                frame_size=ctx.frame_size or None,
            )  # fmt: skip
        if frame is not None:
            frame.pts = None
        for out in self._resampler.resample(frame):
            out.pts = self._samples
            out.time_base = Fraction(1, out.sample_rate)
            self._samples += out.samples
            self._output.mux(self._out_stream.encode(out))


def _add_audio_encoder(output: OutputContainer, target: _Target, source: AudioStream) -> Any:
    """An AAC (or Opus) stream for ``output`` that suits ``source``'s rate and channels."""
    codec = target.audio_codec
    assert codec is not None
    channels = source.codec_context.channels
    layout = "mono" if channels == 1 else "stereo"
    rate = 48_000 if codec == "libopus" else source.codec_context.sample_rate or 48_000
    stream = cast("AudioStream", output.add_stream(codec, rate=rate))
    stream.codec_context.layout = layout
    stream.codec_context.bit_rate = 96_000 if layout == "mono" else 160_000
    return stream
