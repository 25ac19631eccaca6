"""Images per minute of many photos x paintings: a shell loop of ``restyle`` commands against
``restyle batch`` (one process, one network), on this machine and on a local Ray cluster.

    python bench/batch.py                      # 8 photos x 2 paintings at 256 px, -n 20
    python bench/batch.py -n 50 --modes loop,batch
    python bench/batch.py --modes batch,ray1,ray2,fast-loop,fast-batch

Photos: the four of ``../shared/images/content`` and four of scikit-image's (``skimage.data``:
rocket, camera, hubble_deep_field, the left view of stereo_motorcycle), written to a temporary
folder; paintings: The Starry Night and The Scream from ``../shared/images/style``. Modes:

* ``loop``: one ``restyle PHOTO PAINTING -o OUT`` per pair, as a user writes it today;
* ``batch``: ``restyle batch PHOTOS -s PAINTINGS -o OUTDIR``;
* ``ray1``, ``ray2``: the same with ``--ray local --workers 1`` / ``2`` (cluster start included);
* ``fast-loop``, ``fast-batch``: the instant network (``--fast``), one ``restyle batch`` command
  per pair against one command for all.

``--keep DIR`` keeps the raw outputs (logs, reports, images); ``--recompute DIR`` makes the table
again from them and the wall times in ``batch.json`` without running anything.

Each mode runs in child processes. Measured: wall time (so images per minute), each row's time
in the optimisation (from its progress: ``--log-json`` for the loop, the batch report
otherwise), and the peak memory of the whole process tree (proportional set size, sampled every
0.2 s, so Ray's own processes and actors count). Overhead per row = wall time per row beyond
the row's share of the optimisation: for ``W`` workers, (wall - optimisation seconds / W) / rows;
a second column counts the steps alone (see :func:`restyle.tasks.batch.seconds_in_steps`).

Writes ``bench/results/batch.md``, ``batch.png`` and ``batch.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
from tools.shared import IMAGES  # noqa: E402

PAINTINGS = ("starry_night.jpg", "the_scream.jpg")
SKIMAGE_PHOTOS = ("rocket", "camera", "hubble_deep_field", "stereo_motorcycle")
MODES = ("loop", "batch", "ray1", "ray2", "fast-batch", "fast-loop")
LABELS = {
    "loop": "loop of restyle commands",
    "batch": "restyle batch",
    "ray1": "restyle batch --ray local, 1 actor",
    "ray2": "restyle batch --ray local, 2 actors",
    "fast-loop": "loop of restyle batch --fast, one pair each",
    "fast-batch": "restyle batch --fast",
}


# ----- inputs ---------------------------------------------------------------------------------


def make_photos(folder: Path) -> list[Path]:
    """The eight photos, written into ``folder``."""
    import numpy as np
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sorted((IMAGES / "content").iterdir()):
        if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
            shutil.copy(p, folder / p.name)
            out.append(folder / p.name)
    for name in SKIMAGE_PHOTOS:
        data = getattr(skimage.data, name)()
        if isinstance(data, tuple):  # stereo_motorcycle: (left, right, disparity)
            data = data[0]
        img = Image.fromarray(np.asarray(data)).convert("RGB")
        img.save(folder / f"{name}.png")
        out.append(folder / f"{name}.png")
    return out[:8]


# ----- memory of a process tree ----------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Samples the summed proportional set size of a process and its descendants."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            kids, todo, total = _children(), [self.pid], 0
            while todo:
                pid = todo.pop()
                total += _pss_kib(pid)
                todo += kids.get(pid, [])
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval)

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run ``cmd``: (wall seconds, peak tree memory in MiB, exit status, stderr's tail)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    mem = TreeMemory(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    return wall, mem.stop(), proc.returncode, err[-400:]


# ----- the modes -----------------------------------------------------------------------------


def _marks(log: Path) -> list[tuple[int, float]]:
    return [(r["scale"], r["elapsed"]) for r in map(json.loads, log.read_text().splitlines())]


def _report_rows(outdir: Path) -> list[dict[str, Any]]:
    lines = (outdir / "restyle-batch.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "row" in r]


def _row_times(out: Path, mode: str) -> tuple[float, float]:
    """(optimisation, steps alone) seconds summed over a mode's rows, from its raw files.

    The loop's from each command's ``--log-json``; the others' from the batch reports. A
    report written before it recorded ``optimise_seconds`` gives the row's ``seconds`` instead
    (an upper bound: it also holds loading the two images and making the picture).
    """
    from restyle.tasks.batch import seconds_in_steps

    optimise = steps = 0.0
    if mode == "loop":
        for log in sorted(out.glob("*.jsonl")):
            marks = _marks(log)
            if marks:
                optimise += marks[-1][1]
                steps += seconds_in_steps(marks)
        return optimise, steps
    for report in sorted(out.rglob("restyle-batch.jsonl")):
        for r in _report_rows(report.parent):
            if r["status"] == "done":
                optimise += r.get("optimise_seconds", r["seconds"])
                steps += r["step_seconds"]
    return optimise, steps


def summarise(mode: str, out: Path, wall: float, peak: float, rows: int, failed: int) -> dict[
    str, Any
]:  # fmt: skip
    """A mode's line of the table from its wall time, peak memory and raw files."""
    workers = {"ray1": 1, "ray2": 2}.get(mode, 1)
    optimise, steps = _row_times(out, mode)
    return {
        "mode": mode,
        "label": LABELS[mode],
        "rows": rows,
        "failed": failed,
        "workers": workers,
        "wall_s": wall,
        "images_per_min": 60 * (rows - failed) / wall,
        "optimise_s": optimise,
        "step_s": steps,
        "overhead_per_row_s": (wall - optimise / workers) / rows,
        "overhead_beyond_steps_per_row_s": (wall - steps / workers) / rows,
        "peak_mib": peak,
    }


def run_mode(mode: str, photos: list[Path], paintings: list[Path], work: Path, args: Any,
             env: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """Run one mode; its measurements."""
    restyle = [sys.executable, "-m", "restyle"]
    common = ["--size", str(args.size), "-n", str(args.iterations), "-q"]
    out = work / mode
    out.mkdir()
    pairs = [(p, s) for s in paintings for p in photos]
    walls, peaks, failures = [], [], 0
    workers = {"ray1": 1, "ray2": 2}.get(mode, 1)
    if mode in ("loop", "fast-loop"):
        for i, (p, s) in enumerate(pairs):
            if mode == "loop":
                cmd = [*restyle, str(p), str(s), "-o", str(out / f"{i}.png"), *common,
                       "--log-json", str(out / f"{i}.jsonl")]  # fmt: skip
            else:
                cmd = [*restyle, "batch", str(p), "-s", str(s), "-o", str(out / str(i)),
                       "--fast", *common]  # fmt: skip
            wall, peak, code, err = timed(cmd, env)
            failures += code != 0
            if code != 0:
                print(f"  {mode} row {i} failed: {err.strip().splitlines()[-1:]}", file=sys.stderr)
            walls.append(wall)
            peaks.append(peak)
            print(f"  {mode} {i + 1}/{len(pairs)}: {wall:.1f} s", file=sys.stderr)
    else:
        cmd = [*restyle, "batch", *map(str, photos), "-s", *map(str, paintings), "-o", str(out),
               *common]  # fmt: skip
        if mode.startswith("ray"):
            cmd += ["--ray", "local", "--workers", str(workers)]
        if mode == "fast-batch":
            cmd += ["--fast"]
        wall, peak, code, err = timed(cmd, env)
        if code not in (0, 1):
            raise SystemExit(f"{mode} failed ({code}): {err}")
        walls.append(wall)
        peaks.append(peak)
        failures = sum(r["status"] != "done" for r in _report_rows(out))
        print(f"  {mode}: {wall:.1f} s", file=sys.stderr)
    return summarise(mode, out, sum(walls), max(peaks), len(pairs), failures)


# ----- output --------------------------------------------------------------------------------


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table."""
    head = (
        "| mode | rows | wall (s) | images / min | optimisation (s) | steps alone (s) | "
        "overhead / row (s) | overhead beyond the steps / row (s) | peak memory (MiB) |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )

    def num(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [
        f"| {r['label']} | {r['rows'] - r['failed']}/{r['rows']} | {r['wall_s']:.0f} | "
        f"{r['images_per_min']:.2f} | {num(r['optimise_s'], 0)} | {r['step_s']:.0f} | "
        f"{num(r['overhead_per_row_s'], 2)} | {r['overhead_beyond_steps_per_row_s']:.2f} | "
        f"{r['peak_mib']:.0f} |"
        for r in results
    ]
    return head + "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["mode"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.barh(labels, [r["images_per_min"] for r in results], color="#4878a8")
    a.set_xlabel("images per minute (higher is better)")
    a.invert_yaxis()
    over = [r["overhead_per_row_s"] for r in results]
    b.barh(labels, [max(o, 0.01) if o is not None else 0 for o in over], color="#c8553d")
    b.set_xscale("log")
    b.set_xlabel("overhead per row, s (log; lower is better)")
    b.invert_yaxis()
    fig.suptitle("8 photos x 2 paintings at 256 px")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--iterations", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--keep", type=Path, help="keep the raw outputs in this folder")
    ap.add_argument(
        "--recompute",
        type=Path,
        metavar="RAW",
        help="run nothing: the table again from raw outputs kept in RAW (a folder per mode) "
        "and the wall times, memory and load in --out's batch.json",
    )
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        raise SystemExit(f"unknown modes: {', '.join(sorted(unknown))}")
    # PASSIVE: torch's idle threads sleep instead of spinning, which a shared machine needs.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RAY_USAGE_STATS_ENABLED": "0",
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}  # fmt: skip
    if args.recompute:
        old = json.loads((args.out / "batch.json").read_text())
        args.size, args.iterations = old["size"], old["iterations"]
        results = [
            summarise(r["mode"], args.recompute / r["mode"], r["wall_s"], r["peak_mib"],
                      r["rows"], r["failed"])
            for r in old["results"]
            if (args.recompute / r["mode"]).is_dir()
        ]  # fmt: skip
        print(write(results, args, env, (old["load"][0], 0, 0), old["load"][1]))
        return
    load0 = os.getloadavg()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="restyle-bench-batch-") as tmp:
        work = args.keep or Path(tmp)
        photos = make_photos(work / "photos")
        paintings = [IMAGES / "style" / p for p in PAINTINGS]
        for mode in modes:
            print(f"{mode} ...", file=sys.stderr)
            results.append(run_mode(mode, photos, paintings, work, args, env))
            text = write(results, args, env, load0)  # after every mode: a partial run is kept
    print(text)


def write(results: list[dict[str, Any]], args: Any, env: dict[str, str],
          load0: tuple[float, float, float], load1: float | None = None) -> str:  # fmt: skip
    """Write batch.md, batch.json and batch.png for ``results``; the Markdown text."""
    load_now = os.getloadavg()[0] if load1 is None else load1
    by = {r["mode"]: r for r in results}
    notes = []
    if "loop" in by and "batch" in by:
        loop, batch = by["loop"], by["batch"]
        key = "overhead_beyond_steps_per_row_s"
        notes.append(
            f"batch's overhead per row / the loop's: "
            f"{batch['overhead_per_row_s'] / loop['overhead_per_row_s']:.3f} (target <= 0.1); "
            f"beyond the steps alone: {batch[key] / loop[key]:.3f}"
        )
    if "fast-loop" in by and "fast-batch" in by:
        ratio = by["fast-batch"]["images_per_min"] / by["fast-loop"]["images_per_min"]
        notes.append(f"--fast throughput, batch / loop: {ratio:.1f}x (target >= 5x)")
    import torch

    machine = (f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
               f"Python {platform.python_version()}")  # fmt: skip
    text = (
        f"# Batch throughput: 8 photos x 2 paintings at {args.size} px, -n {args.iterations}\n\n"
        f"Machine: {machine}. Load average (1 min) at the start / the end: {load0[0]:.2f} / "
        f"{load_now:.2f} (the machine is shared: other jobs took cores during the run). "
        f"OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}.\n\n"
        + table(results)
        + "\n"
        + "".join(f"- {n}\n" for n in notes)
        + "\nOptimisation: each row's optimisation loop, from its start to its last step (the "
        "targets and the steps at every scale; for --fast, the forward pass). Steps alone: each "
        "scale's first step (which also computes that scale's targets and evaluates the start "
        "point) counted as the mean of the scale's other steps. Overhead per row: (wall - "
        "optimisation / workers) / rows: start-up, imports, building the network, loading and "
        "saving the images; the last column puts the targets in the overhead too. Peak memory: "
        "the summed proportional set size of the command's process tree (Ray's own processes and "
        "actors included), sampled every 0.2 s; for the loops, the largest single command.\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batch.md").write_text(text)
    (args.out / "batch.json").write_text(json.dumps(
        {"machine": machine, "load": [load0[0], load_now], "size": args.size,
         "iterations": args.iterations, "results": results}, indent=1) + "\n")  # fmt: skip
    plot(results, args.out / "batch.png")
    return text


if __name__ == "__main__":
    main()
