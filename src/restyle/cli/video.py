"""``restyle video``: stylise a video without flicker (Ruder, Dosovitskiy & Brox 2016).

Example::

    restyle video clip.mp4 starry-night -o out.mp4 --size 384 --duration 2
    restyle video clip.mp4 starry-night -o out.mp4 --size 384 --resume   # after Ctrl-C
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import IO, Any

from ..config import Settings
from ..errors import RestyleError
from ..optim.progress import clock
from ..tasks.video import VideoOptions, VideoProgress
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    add_output_arguments,
    add_settings_arguments,
    settings_from_args,
)
from .progress import Reporter

_OPTIONS = VideoOptions()
_SETTINGS = Settings()


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``restyle video``."""
    p = Parser(
        prog="restyle video",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Stylise a video (or a folder of frames) frame by frame without flicker "
        "(Ruder, Dosovitskiy & Brox 2016): the first frame is a normal run; every later frame "
        "starts from the previous result warped by the optical flow and is tied to it by a "
        "temporal term. Every option of a still image applies.",
        epilog="examples:\n"
        "  restyle video clip.mp4 starry-night -o out.mp4 --size 384 --duration 2\n"
        "  restyle video clip.mp4 starry-night -o out.mp4 --size 384 --resume\n"
        "  restyle video clip.mp4 starry-night -o fast.mp4 --fast          # instant frames\n"
        "  restyle video clip.mp4 -o mine.mp4 --model starry.pt             # a trained model\n"
        "  restyle score --video out.mp4 --input clip.mp4",
    )
    p.add_argument("input", metavar="INPUT", help="a video file, or a folder of PNG/JPEG frames")
    p.add_argument(
        "styles", nargs="*", metavar="STYLE", help="one or more style images (none with --model)"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help=".mp4 (H.264, default), .mov, .mkv, .webm, .gif, or a folder of PNG frames; "
        "the input's audio is carried over",
    )
    g = p.add_argument_group("video")
    g.add_argument("--start", type=float, help="start this many seconds into the input (default 0)")
    g.add_argument("--duration", type=float, help="stylise this many seconds (default: to the end)")
    g.add_argument(
        "--frame-iterations",
        type=int,
        help="steps of each frame after the first, at the output size "
        f"(default {_OPTIONS.frame_iterations}; the first frame gets --iterations)",
    )
    g.add_argument(
        "--temporal-weight",
        type=float,
        help="weight of the term that ties a frame to the previous one warped into it "
        f"(default {_SETTINGS.temporal_weight:g}; 0: only start from it)",
    )
    g.add_argument(
        "--independent",
        action="store_true",
        help="stylise every frame on its own, as a photo (flickers; for comparison)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="go on from the finished frames of an interrupted run (same options)",
    )
    g.add_argument(
        "--work-dir",
        help="where finished frames are kept (default: OUTPUT.work beside the output)",
    )
    g.add_argument(
        "--keep-frames", action="store_true", help="keep the work folder after a complete run"
    )
    g.add_argument("--fps", type=float, help="frame rate of a folder of frames (default 25)")
    f = p.add_argument_group("feed-forward (a fraction of a second per frame)")
    f.add_argument(
        "--fast",
        action="store_true",
        help="paint each frame with the arbitrary-style network (Ghiasi et al. 2017)",
    )
    f.add_argument("--model", metavar="FILE", help="paint each frame with a model of restyle train")
    f.add_argument(
        "--blend",
        type=float,
        help="with --fast or --model: how much of the previous result, warped into each frame "
        f"by the optical flow, a frame keeps where the flow is reliable (default "
        f"{_OPTIONS.blend:g}; 0: plain per-frame output, which flickers)",
    )
    add_settings_arguments(p)
    add_output_arguments(p)
    return p


def describe(p: VideoProgress) -> str:
    """One line about a :class:`~restyle.tasks.video.VideoProgress`."""
    parts = [f"frame {p.frame + 1}/{p.frames}"]
    if p.step is not None:
        s = p.step
        parts.append(f"scale {s.scale + 1}/{s.scales} step {s.step}/{s.steps}")
        parts.append(f"loss {s.losses.get('total', 0):.4g}")
        if "temporal" in s.losses:
            parts[-1] += f" (temporal {s.losses['temporal']:.3g})"
    elif p.frame_done:
        parts.append("from the work folder" if p.resumed else f"{p.frame_seconds:.1f} s")
    parts.append(f"left {clock(p.eta)}")
    return " | ".join(parts)


class FrameReporter(Reporter):
    """A bar over frames (a frame under way counts by its share of steps) and a JSON-lines log."""

    def update(self, p: VideoProgress) -> None:
        """Show one report."""
        if not self.quiet and not p.done:
            fraction = 0.0
            if p.step is not None and p.step.total_steps:
                fraction = p.step.total_step / p.step.total_steps
            self._show(
                p.frames,
                round(p.frames_done + fraction, 3),
                describe(p),
                "frame",
                "{percentage:3.0f}%|{bar:20}| {postfix} [{elapsed}]",
            )
        record: dict[str, Any] = {
            "frame": p.frame,
            "frames": p.frames,
            "frames_done": p.frames_done,
            "time": round(p.time, 4),
            "frame_done": p.frame_done,
            "resumed": p.resumed,
            "frame_seconds": round(p.frame_seconds, 3),
            "elapsed": round(p.elapsed, 3),
            "eta": round(p.eta, 1),
            "done": p.done,
        }
        if p.step is not None:
            record.update(
                scale=p.step.scale,
                scales=p.step.scales,
                step=p.step.step,
                steps=p.step.steps,
                losses=p.step.losses,
            )
        self._write(record)


def main(argv: Sequence[str], stderr: IO[str]) -> int:
    """``restyle video INPUT STYLE [STYLE ...] -o OUTPUT [options]``; the exit status."""
    from ..api import stylize_video

    args = build_parser().parse_args(argv)
    if args.save_every:
        raise RestyleError(
            "--save-every does not apply to videos: finished frames are kept in the work "
            "folder as they are done"
        )
    settings = settings_from_args(args)
    names = ("start", "duration", "frame_iterations", "independent", "resume", "work_dir",
             "keep_frames", "fps", "blend")  # fmt: skip
    video_options = {k: getattr(args, k) for k in names if getattr(args, k) not in (None, False)}
    if args.fast and args.model:
        raise RestyleError("--fast and --model both choose the network: give one")
    if args.model and args.styles:
        raise RestyleError("a model paints in its own style: give no STYLE with --model")
    if not args.model and not args.styles:
        raise RestyleError("give one or more style images (or --model FILE)")
    if args.blend is not None and not (args.fast or args.model):
        raise RestyleError("--blend is for --fast and --model (the optimisation has its own tie)")
    if args.fast or args.model:
        from .apply import check_fast_strength

        check_fast_strength(settings)
        video_options["network"] = args.model or "arbitrary"
    runs = stylize_video(args.input, list(args.styles), args.output, settings, **video_options)
    reporter = FrameReporter(stderr, quiet=args.quiet, json_path=args.log_json)
    done = 0
    try:
        with reporter:
            for p in runs:
                done = p.frames_done
                reporter.update(p)
    except KeyboardInterrupt:
        runs.close()  # finalises the output with the frames done
        print(
            f"restyle: interrupted after {done} frame{'' if done == 1 else 's'}; the output "
            "holds them, and --resume goes on from there",
            file=stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"restyle: wrote {done} frames to {args.output}", file=stderr)
    return EXIT_OK
