"""Video I/O: every clip is written here, in tmp_path, with PyAV (tiny sizes, a few frames)."""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from restyle.errors import RestyleError
from restyle.media.video import (
    VIDEO_FORMATS,
    VideoWriter,
    check_video_output,
    probe,
    read_frames,
)

av = pytest.importorskip("av")

WIDTH, HEIGHT = 64, 48
SAMPLE_RATE = 16_000


def picture(t: int, width: int = WIDTH, height: int = HEIGHT) -> npt.NDArray[np.uint8]:
    """Frame t: a white left band (to see rotations), a red top band, green rising with t."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :8] = 255
    image[:8, :, 0] = 255
    image[8:, 8:, 1] = (30 * t) % 256
    return image


def make_clip(
    path: Path,
    frames: int = 10,
    *,
    fps: int = 25,
    audio: bool = False,
    rotation: int | None = None,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    draw: Callable[[int, int, int], npt.NDArray[np.uint8]] = picture,
) -> Path:
    """An H.264 clip (moov at the end, as most cameras write it) of ``draw(t, width, height)``,
    optionally with AAC audio."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=fps)
    video.width, video.height = size
    video.pix_fmt = "yuv420p"
    if rotation is not None:
        video.set_display_rotation(rotation)
    sound = out.add_stream("aac", rate=SAMPLE_RATE) if audio else None
    if sound is not None:
        sound.codec_context.layout = "mono"
    for t in range(frames):
        frame = av.VideoFrame.from_ndarray(draw(t, *size), format="rgb24")
        frame.pts = t
        out.mux(video.encode(frame))
    if sound is not None:
        write_tone(out, sound, frames / fps)
    out.mux(video.encode())
    out.close()
    return path


def write_tone(out: object, stream: object, seconds: float) -> None:
    """A 440 Hz tone of the given length into an open output."""
    container, sound = out, stream
    step = sound.codec_context.frame_size or 1024  # type: ignore[attr-defined]
    total = int(SAMPLE_RATE * seconds)
    for start in range(0, total, step):
        t = (np.arange(step) + start) / SAMPLE_RATE
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        container.mux(sound.encode(frame))  # type: ignore[attr-defined]
    container.mux(sound.encode())  # type: ignore[attr-defined]


def audio_span(path: Path) -> tuple[float, float]:
    """First and last time (seconds) covered by the audio packets of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        spans = [
            (float(p.pts * p.time_base), float((p.pts + p.duration) * p.time_base))
            for p in container.demux(stream)
            if p.pts is not None and p.size
        ]
    return min(a for a, _ in spans), max(b for _, b in spans)


def audio_seconds(path: Path) -> float:
    start, end = audio_span(path)
    assert abs(start) < 0.07  # starts with the video, to one AAC frame (64 ms)
    return end - start


def close_to(image: Image.Image, t: int, tolerance: float = 6.0) -> bool:
    diff = np.abs(np.asarray(image, dtype=np.int16) - picture(t, *image.size).astype(np.int16))
    return float(diff[2:-2, 2:-2].mean()) < tolerance


# --------------------------------------------------------------------------------------------
# Probing and reading


def test_probe_reports_size_rate_frames_and_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=25, audio=True)
    info = probe(clip)
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.fps == Fraction(25) and isinstance(info.fps, Fraction)
    assert info.frames == 10 and info.frames_exact
    assert info.duration == pytest.approx(0.4, abs=0.01)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.codec == "h264" and info.rotation == 0 and not info.variable_frame_rate


def test_read_frames_streams_rgb_images_with_times(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=6, fps=25)
    with read_frames(clip) as reader:
        frames = list(reader)
        assert reader.frames_read == 6 and reader.info.frames == 6
    assert [f.index for f in frames] == list(range(6))
    assert [f.time for f in frames] == pytest.approx([t / 25 for t in range(6)])
    assert all(f.image.mode == "RGB" and f.image.size == (WIDTH, HEIGHT) for f in frames)
    assert all(close_to(f.image, t) for t, f in enumerate(frames))


def test_read_frames_start_and_duration(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=25)
    frames = list(read_frames(clip, start=0.12, duration=0.16))
    assert [round(f.time * 25) for f in frames] == [3, 4, 5, 6]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert close_to(frames[0].image, 3)
    with pytest.raises(RestyleError, match="no frame"):
        list(read_frames(clip, start=5.0))
    with pytest.raises(RestyleError, match="duration"):
        read_frames(clip, duration=0)


@pytest.mark.parametrize("degrees", [90, 270, 180])
def test_rotation_metadata_is_applied(tmp_path: Path, degrees: int) -> None:
    clip = make_clip(tmp_path / "rotated.mp4", frames=2, rotation=degrees)
    info = probe(clip)
    assert info.rotation == degrees
    upright = Image.fromarray(picture(0))
    expected = upright.rotate(degrees, expand=True)  # PIL rotates counterclockwise
    assert (info.width, info.height) == expected.size
    image = next(iter(read_frames(clip))).image
    assert image.size == expected.size
    diff = np.abs(np.asarray(image, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    assert float(diff.mean()) < 6


# --------------------------------------------------------------------------------------------
# Writing


def test_round_trip_keeps_frames_rate_and_audio(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=25, audio=True)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 25, WIDTH, HEIGHT, audio_from=clip) as writer:
        for frame in read_frames(clip):
            writer.write(frame.image)
    assert writer.audio == "copy" and writer.frames_written == 10
    info = probe(out)
    assert info.frames == 10 and info.fps == 25 and info.has_audio
    assert info.audio_codec == "aac"
    assert audio_seconds(out) == pytest.approx(0.4, abs=0.07)  # to one AAC frame (64 ms)
    frames = list(read_frames(out))
    assert len(frames) == 10 and all(close_to(f.image, t) for t, f in enumerate(frames))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_audio_is_trimmed_with_the_video(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=25, fps=25, audio=True)
    out = tmp_path / "part.mkv"
    with VideoWriter(out, 25, WIDTH, HEIGHT, audio_from=clip, audio_start=0.4) as writer:
        for frame in read_frames(clip, start=0.4, duration=0.4):
            writer.write(frame.image)
    assert writer.frames_written == 10
    assert probe(out).has_audio
    assert audio_seconds(out) == pytest.approx(0.4, abs=0.07)


def test_webm_transcodes_the_audio_to_opus(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=5, audio=True)
    out = tmp_path / "out.webm"
    with VideoWriter(out, 25, WIDTH, HEIGHT, audio_from=clip) as writer:
        for frame in read_frames(clip):
            writer.write(frame.image)
    assert writer.audio == "transcode"
    info = probe(out)
    assert info.codec == "vp9" and info.audio_codec == "opus"
    assert len(list(read_frames(out))) == 5


def test_gif_output(tmp_path: Path) -> None:
    out = tmp_path / "out.gif"
    with VideoWriter(out, 10, 33, 21) as writer:  # odd sizes are kept in a GIF
        for t in range(3):
            writer.write(Image.fromarray(picture(t, 33, 21)))
    assert writer.size == (33, 21)
    frames = list(read_frames(out))
    assert len(frames) == 3 and all(close_to(f.image, t, 10) for t, f in enumerate(frames))


def test_odd_sizes_lose_one_pixel_in_yuv420p(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 25, 33, 21) as writer:
        writer.write(Image.fromarray(picture(0, 33, 21)))
        with pytest.raises(ValueError, match="frame is"):
            writer.write(Image.new("RGB", (32, 20)))
    assert writer.size == (32, 20)
    assert (probe(out).width, probe(out).height) == (32, 20)


def test_png_folder_in_and_out(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    folder = tmp_path / "frames"
    with VideoWriter(f"{folder}/", 25, WIDTH, HEIGHT) as writer:
        for frame in read_frames(clip):
            writer.write(frame.image)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(1, 5)]
    info = probe(folder, fps=12)
    assert info.is_folder and info.frames == 4 and info.fps == 12
    frames = list(read_frames(folder, fps=12))
    assert [f.time for f in frames] == pytest.approx([0, 1 / 12, 2 / 12, 3 / 12])
    assert all(close_to(f.image, t) for t, f in enumerate(frames))
    assert probe(folder).fps == 25  # the default
    out = tmp_path / "from_frames.mp4"
    with VideoWriter(out, info.fps, info.width, info.height) as writer:
        for frame in read_frames(folder, fps=12):
            writer.write(frame.image)
    assert probe(out).frames == 4 and probe(out).fps == 12


def test_frame_folder_sorts_numbers_naturally(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for t in (1, 2, 10):
        Image.fromarray(picture(t)).save(folder / f"f{t}.png")
    (folder / "notes.txt").write_text("not a frame")
    frames = list(read_frames(folder))
    assert [round(f.time * 25) for f in frames] == [0, 1, 2]
    assert close_to(frames[2].image, 10)


def test_an_exception_inside_the_writer_leaves_a_playable_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=10, audio=True)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old result")
    writer = VideoWriter(out, 25, WIDTH, HEIGHT, audio_from=clip)
    with pytest.raises(KeyboardInterrupt), writer:
        for frame in read_frames(clip):
            writer.write(frame.image)
            if writer.frames_written == 4:
                raise KeyboardInterrupt  # as Ctrl-C would
    info = probe(out)
    assert info.frames == 4 and info.has_audio
    assert audio_seconds(out) <= 0.16 + 0.07
    assert len(list(read_frames(out))) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_no_frames_written_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old result")
    with pytest.raises(RuntimeError), VideoWriter(out, 25, WIDTH, HEIGHT):
        raise RuntimeError("failed before the first frame")
    assert out.read_bytes() == b"old result"
    with pytest.raises(RestyleError, match="no frames"), VideoWriter(out, 25, WIDTH, HEIGHT):
        pass
    assert out.read_bytes() == b"old result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


# --------------------------------------------------------------------------------------------
# Bad input


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("hello\n" * 50)
    with pytest.raises(RestyleError, match="not a video") as caught:
        probe(text)
    assert "\n" not in str(caught.value)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(RestyleError, match="empty"):
        read_frames(empty)
    with pytest.raises(RestyleError, match="not found"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(RestyleError, match="no PNG or JPEG"):
        probe(tmp_path)


def test_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "sound.m4a"
    out = av.open(str(path), "w", format="mp4")
    sound = out.add_stream("aac", rate=SAMPLE_RATE)
    sound.codec_context.layout = "mono"
    write_tone(out, sound, 0.3)
    out.close()
    with pytest.raises(RestyleError, match="only audio"):
        probe(path)


def test_truncated_files(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=30)  # index (moov) at the end
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(RestyleError, match=r"not a video|corrupt"):
        probe(cut)
    # Index first (as restyle writes MP4): a cut file decodes up to the cut.
    fast = tmp_path / "fast.mp4"
    with VideoWriter(fast, 25, WIDTH, HEIGHT) as writer:
        for t in range(30):
            writer.write(Image.fromarray(picture(t)))
    data = fast.read_bytes()
    partial = tmp_path / "partial.mp4"
    partial.write_bytes(data[: len(data) * 3 // 4])
    frames = list(read_frames(partial))
    assert 0 < len(frames) < 30
    assert probe(partial).frames == 30  # the header still promises all of them
    header_only = tmp_path / "header_only.mp4"
    header_only.write_bytes(data[: data.index(b"mdat") + 8])
    with pytest.raises(RestyleError, match="no frame that can be decoded"):
        probe(header_only)


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=True)
    before = clip.read_bytes()
    with pytest.raises(RestyleError, match="same as the input"):
        VideoWriter(clip, 25, WIDTH, HEIGHT, audio_from=clip)
    with pytest.raises(RestyleError, match="same as the input"):
        check_video_output(tmp_path / "." / "in.mp4", [clip])
    link = tmp_path / "link.mp4"
    os.symlink(clip, link)
    with pytest.raises(RestyleError, match="same as the input"):
        check_video_output(link, [clip])
    assert clip.read_bytes() == before


def test_bad_output_paths(tmp_path: Path) -> None:
    with pytest.raises(RestyleError, match="unsupported video output type"):
        check_video_output(tmp_path / "out.avi")
    with pytest.raises(RestyleError, match="does not exist"):
        check_video_output(tmp_path / "missing" / "out.mp4")
    (tmp_path / "dir.mp4").mkdir()
    assert check_video_output(tmp_path / "dir.mp4") == (tmp_path / "dir.mp4").resolve()
    assert set(VIDEO_FORMATS) == {".mp4", ".mov", ".mkv", ".webm", ".gif"}


def test_huge_resolution_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from restyle.media import video

    clip = make_clip(tmp_path / "in.mp4", frames=2)
    monkeypatch.setattr(video, "MAX_SIZE", 32)
    with pytest.raises(RestyleError, match="too large"):
        probe(clip)
    with pytest.raises(RestyleError, match="video size"):
        VideoWriter(tmp_path / "out.mp4", 25, 64, 20)


def test_bad_frame_rate(tmp_path: Path) -> None:
    with pytest.raises(RestyleError, match="frame rate"):
        VideoWriter(tmp_path / "out.mp4", 0, WIDTH, HEIGHT)
    with pytest.raises(RestyleError, match="frame rate"):
        probe(tmp_path, fps=float("nan"))
