"""The video task, its temporal term and ``restyle video`` / ``restyle score --video``.

Clips are made here with PyAV (a few frames of a panning pattern, at most 64 px); runs use the
tiny network and a handful of steps, so each test takes seconds.
"""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from PIL import Image

from restyle.api import stylize_video
from restyle.cli import main
from restyle.errors import RestyleError
from restyle.media.video import probe, read_frames
from restyle.objective.evaluate import evaluate
from restyle.objective.temporal import TemporalTerm, temporal_loss
from restyle.tasks.video import VideoProgress, default_work_dir

from .conftest import painting
from .test_video_io import SAMPLE_RATE, write_tone
from .test_video_io import make_clip as clip_of

av = pytest.importorskip("av")
pytestmark = pytest.mark.usefixtures("use_tiny_net")

WIDTH, HEIGHT = 64, 40
#: A run in seconds, not minutes: the tiny network, 32-px frames, a few steps.
FAST = {"size": 32, "iterations": 4, "frame_iterations": 2}
FAST_ARGS = ["--size", "32", "-n", "4", "--frame-iterations", "2", "-q"]


def scene(t: int, width: int = WIDTH, height: int = HEIGHT) -> npt.NDArray[np.uint8]:
    """Frame t of a camera pan: a smooth pattern moving 2 px to the left per frame."""
    y, x = np.mgrid[0:height, 0 : width + 2 * t].astype(np.float32)
    x = x[:, 2 * t :]
    y = y[:, 2 * t :]
    r = 0.5 + 0.5 * np.sin(x / 5.0)
    g = 0.5 + 0.5 * np.cos(y / 4.0 + x / 9.0)
    b = 0.5 + 0.5 * np.sin((x + y) / 7.0)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def make_clip(path: Path, frames: int = 4, *, fps: int = 12, audio: bool = False) -> Path:
    """An H.264 clip of the pan, with an AAC tone if asked."""
    return clip_of(path, frames, fps=fps, audio=audio, size=(WIDTH, HEIGHT), draw=scene)


def make_frames(folder: Path, frames: int = 4) -> Path:
    folder.mkdir()
    for t in range(frames):
        Image.fromarray(scene(t)).save(folder / f"f{t + 1}.png")
    return folder


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    return main(argv, stderr=err), err.getvalue()


def folder_frames(folder: Path) -> list[npt.NDArray[np.uint8]]:
    return [np.asarray(f.image) for f in read_frames(folder)]


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    painting().save(path)
    return path


# ----- the temporal term -------------------------------------------------------------------


def test_temporal_term_value_and_gradient_match_a_hand_computation() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 5, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 3, 5, 7, generator=gen, dtype=torch.float64)
    mask = torch.rand(1, 1, 5, 7, generator=gen, dtype=torch.float64)
    mask[..., 2, :] = 0.0  # a disoccluded row counts for nothing
    weight = 3.5
    term = TemporalTerm(target, mask, weight)
    value = term.image_value(x)
    xs, ts, cs = x.detach().numpy()[0], target.numpy()[0], mask.numpy()[0, 0]
    d = 3 * 5 * 7
    by_hand = (
        weight
        * sum(
            cs[i, j] * (xs[k, i, j] - ts[k, i, j]) ** 2
            for k in range(3)
            for i in range(5)
            for j in range(7)
        )
        / d
    )
    assert value.dtype == torch.float64
    assert float(value.detach()) == pytest.approx(by_hand, rel=1e-12)
    (grad,) = torch.autograd.grad(value, x)
    expected = 2 * weight * cs[None] * (xs - ts) / d
    np.testing.assert_allclose(grad.numpy()[0], expected, rtol=1e-12, atol=1e-15)
    assert torch.all(grad[..., 2, :] == 0)
    assert torch.autograd.gradcheck(lambda t: term.image_value(t), (x,))
    assert float(TemporalTerm(target, mask, 0.0).image_value(x)) == 0.0


def test_temporal_term_resizes_with_the_scale_and_checks_shapes() -> None:
    target = torch.rand(1, 3, 16, 24)
    mask = torch.ones(1, 1, 16, 24)
    mask[..., :, :4] = 0
    term = TemporalTerm(target, mask, 1.0)
    assert term.at(24, 16) is term
    small = term.at(12, 8)
    assert small.target.shape == (1, 3, 8, 12) and small.mask.shape == (1, 1, 8, 12)
    assert float(small.mask[..., 0, :2].max()) == 0.0 and float(small.mask[..., 0, 3]) == 1.0
    assert term.at(48, 32).mask.shape == (1, 1, 32, 48)
    with pytest.raises(ValueError, match="do not fit"):
        temporal_loss(torch.zeros(1, 3, 8, 8), target, mask)
    with pytest.raises(ValueError, match="differ in size"):
        TemporalTerm(target, torch.ones(1, 1, 4, 4), 1.0)


def test_the_evaluator_reports_the_temporal_term(tiny_net: torch.nn.Module) -> None:
    x = torch.full((1, 3, 16, 16), 0.5, requires_grad=True)
    term = TemporalTerm(torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16), 2.0)
    report, backward = evaluate(tiny_net, [term], x)  # type: ignore[arg-type]
    assert report["temporal"] == pytest.approx(2.0 * 0.25)
    backward(1.0)
    assert x.grad is not None
    assert torch.allclose(x.grad, torch.full_like(x, 2 * 2.0 * 0.5 / (3 * 16 * 16)))


# ----- the task ----------------------------------------------------------------------------


def test_restyle_video_keeps_frame_count_rate_and_audio(tmp_path: Path, style: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=5, fps=12, audio=True)
    out = tmp_path / "out.mp4"
    code, err = run_cli(["video", str(clip), str(style), "-o", str(out), *FAST_ARGS])
    assert code == 0, err
    info = probe(out)
    assert info.frames == 5 and info.fps == Fraction(12)
    assert (info.width, info.height) == (32, 20)  # 32x20 (20.0 rounds to 20; even for H.264)
    assert info.has_audio and info.audio_codec == "aac"
    assert not default_work_dir(out).exists()  # removed after a complete run


def test_progress_reports_steps_frames_and_a_last_report(tmp_path: Path) -> None:
    clip = make_frames(tmp_path / "frames", frames=3)
    reports = list(
        stylize_video(clip, painting(), tmp_path / "out", fps=10, temporal_weight=50.0, **FAST)
    )
    assert all(isinstance(p, VideoProgress) for p in reports)
    closing = [p for p in reports if p.frame_done]
    assert [p.frame for p in closing] == [0, 1, 2] and [p.frames_done for p in closing] == [1, 2, 3]
    assert all(p.image is not None and p.image.size == (32, 20) for p in closing)
    later = [p.step for p in reports if p.step is not None and p.frame == 2]
    assert later and all(s.scales == 1 and s.steps <= 2 for s in later)
    assert "temporal" in later[-1].losses
    first = [p.step for p in reports if p.step is not None and p.frame == 0]
    assert first[-1] is not None and first[-1].total_steps <= 4
    assert reports[-1].done and reports[-1].frames == 3
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_resume_after_an_interruption_gives_the_same_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=5)
    whole = tmp_path / "whole"
    for _ in stylize_video(clip, painting(), whole, **FAST):
        pass

    cut = tmp_path / "cut"
    run = stylize_video(clip, painting(), cut, **FAST)
    for p in run:
        if p.frame == 3 and p.step is not None:  # in the middle of the fourth frame
            with pytest.raises(KeyboardInterrupt):
                run.throw(KeyboardInterrupt)
            break
    work = default_work_dir(cut)
    assert sorted(x.name for x in work.glob("*.png")) == ["000001.png", "000002.png", "000003.png"]
    assert len(folder_frames(cut)) == 3  # the output holds the frames done

    with pytest.raises(RestyleError, match="--resume"):
        next(iter(stylize_video(clip, painting(), cut, **FAST)))
    with pytest.raises(RestyleError, match=r"other settings \(style_strength\)"):
        next(iter(stylize_video(clip, painting(), cut, **FAST, style_strength=2, resume=True)))

    reports = list(stylize_video(clip, painting(), cut, **FAST, resume=True))
    assert [p.resumed for p in reports if p.frame_done] == [True, True, True, False, False]
    a, b = folder_frames(whole), folder_frames(cut)
    assert len(a) == len(b) == 5
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not work.exists()


def test_an_interrupted_video_file_is_playable(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    out = tmp_path / "out.mp4"
    run = stylize_video(clip, painting(), out, **FAST)
    for p in run:
        if p.frame_done and p.frames_done == 2:
            run.close()  # what the CLI does on Ctrl-C
            break
    assert probe(out).frames == 2
    assert len(list(default_work_dir(out).glob("*.png"))) == 2


def test_independent_frames_and_a_later_frame_start(tmp_path: Path) -> None:
    clip = make_frames(tmp_path / "frames", frames=2)
    reports = list(stylize_video(clip, painting(), tmp_path / "out", independent=True, **FAST))
    steps = [p.step for p in reports if p.step is not None and p.frame == 1]
    assert steps[-1] is not None and "temporal" not in steps[-1].losses


# ----- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not a video file"),
        ("empty", "empty file"),
        ("audio", "only audio"),
        ("same", "same as the input"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, style: Path, kind: str, message: str
) -> None:
    clip = tmp_path / "in.mp4"
    out = tmp_path / "out.mp4"
    if kind == "text":
        clip.write_text("this is not a video\n" * 20)
    elif kind == "empty":
        clip.write_bytes(b"")
    elif kind == "audio":
        container = av.open(str(clip), "w")
        sound = container.add_stream("aac", rate=SAMPLE_RATE)
        sound.codec_context.layout = "mono"
        write_tone(container, sound, 0.3)
        container.close()
    else:
        make_clip(clip, frames=2)
        out = clip
    before = clip.read_bytes()
    code, err = run_cli(["video", str(clip), str(style), "-o", str(out), *FAST_ARGS])
    assert code == 2
    assert err.startswith("restyle: error: ") and message in err and err.count("\n") == 1
    assert clip.read_bytes() == before
    assert not (tmp_path / "out.mp4").exists() or kind == "same"


def test_a_failure_half_way_keeps_the_frames_done(tmp_path: Path, style: Path) -> None:
    frames = make_frames(tmp_path / "frames", frames=4)
    Image.fromarray(scene(3)[:30]).save(frames / "f4.png")  # the fourth frame is smaller
    out = tmp_path / "out.mp4"
    code, err = run_cli(["video", str(frames), str(style), "-o", str(out), *FAST_ARGS])
    assert code == 2 and "differ in size" in err and err.count("\n") == 1
    assert probe(out).frames == 3
    assert len(list(default_work_dir(out).glob("*.png"))) == 3


# ----- scoring -----------------------------------------------------------------------------


def test_score_video_reports_the_warping_error_beside_the_input(
    tmp_path: Path, style: Path
) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    out = tmp_path / "out.mp4"
    code, err = run_cli(["video", str(clip), str(style), "-o", str(out), *FAST_ARGS])
    assert code == 0, err
    stdout = io.StringIO()
    from restyle.cli.score import main as score_main

    code = score_main(["--video", str(out), "--input", str(clip), "--json"], io.StringIO(), stdout)
    assert code == 0
    scores = json.loads(stdout.getvalue())
    assert scores["pairs"] == 3 and scores["width"] == 32
    assert scores["warping_error"] >= 0 and scores["input_warping_error"] >= 0
    assert scores["input"] == str(clip) and scores["video"] == str(out)
    text = io.StringIO()
    assert score_main(["--video", str(out), "--input", str(clip)], io.StringIO(), text) == 0
    assert "warping error" in text.getvalue()
    code, err = run_cli(["score", "--video", str(out)])
    assert code == 2 and "--input" in err


def test_ctrl_c_in_restyle_video_keeps_a_playable_video(
    tmp_path: Path, style: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restyle.cli import video as cli_video

    shown = cli_video.FrameReporter.update
    pressed: list[int] = []

    def update(self: cli_video.FrameReporter, p: VideoProgress) -> None:
        shown(self, p)
        if p.frame_done and p.frames_done == 2 and not pressed:
            pressed.append(p.frame)
            raise KeyboardInterrupt  # Ctrl-C while the bar is drawn

    monkeypatch.setattr(cli_video.FrameReporter, "update", update)
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    out = tmp_path / "out.mp4"
    log = tmp_path / "log.jsonl"
    argv = ["video", str(clip), str(style), "-o", str(out), *FAST_ARGS, "--log-json", str(log)]
    code, err = run_cli(argv)
    assert code == 130 and "interrupted after 2 frames" in err and "--resume" in err
    assert probe(out).frames == 2
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in records if r["frame_done"]] == [0, 1]
    code, err = run_cli([*argv, "--resume"])
    assert code == 0, err
    assert probe(out).frames == 4


# ----- feed-forward frames -----------------------------------------------------------------


def test_feed_forward_frames_blended_with_the_flow_flicker_less(
    tmp_path: Path, style: Path
) -> None:
    from restyle.tasks.video import video_warping_error

    clip = make_frames(tmp_path / "in", frames=6)
    errors = {}
    first = {}
    for blend in (0.0, 0.6):
        out = tmp_path / f"blend{blend:.0%}"
        reports = list(
            stylize_video(clip, str(style), out, size=64, network="arbitrary", blend=blend)
        )
        assert reports[-1].done and reports[-1].frames_done == 6
        assert all(r.step is None for r in reports)  # painted in one pass: no optimisation
        errors[blend] = video_warping_error(out, clip).output
        first[blend] = np.asarray(Image.open(sorted(out.glob("*.png"))[0]))
    # The first frame has nothing to blend with; later ones keep the previous result where
    # the flow is reliable, and flicker less.
    assert np.array_equal(first[0.0], first[0.6])
    assert errors[0.6] < 0.7 * errors[0.0], errors


def test_restyle_video_with_a_trained_model_and_its_bad_options(
    tmp_path: Path, style: Path
) -> None:
    from restyle.net.transformer import TransformerConfig, TransformerNet
    from restyle.tasks.train import save_model

    model = tmp_path / "m.pt"
    save_model(model, TransformerNet(TransformerConfig(widths=(4, 8, 8), blocks=1)), {})
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    out = tmp_path / "out.mp4"
    code, err = run_cli(
        ["video", str(clip), "-o", str(out), "--model", str(model), "--size", "64", "-q"]
    )
    assert code == 0, err
    assert probe(out).frames == 3 and probe(out).width == WIDTH
    bad = [
        (["--fast", "--model", str(model)], "give one"),
        ([str(style), "--model", str(model)], "no STYLE with --model"),
        ([str(style), "--blend", "0.5"], "--blend is for --fast and --model"),
        ([str(style), "--fast", "--blend", "1"], "blend must be from 0"),
        ([str(style), "--fast", "--style-strength", "2"], "runs from 0"),
        (["--model", str(tmp_path / "none.pt")], "none.pt"),
        ([], "give one or more style images"),
    ]
    for extra, message in bad:
        code, err = run_cli(["video", str(clip), *extra, "-o", str(tmp_path / "x.mp4"), "-q"])
        assert code == 2 and message in err and "Traceback" not in err, (extra, err)
        assert len(err.strip().splitlines()) == 1, err
