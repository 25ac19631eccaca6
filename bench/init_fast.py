"""How much sooner ``--init fast`` (the optimisation started from the arbitrary-style network's
instant result, Ghiasi et al. 2017) reaches the default run's final objective.

    python bench/init_fast.py                      # Tübingen and coffee x four paintings, 384 px
    python bench/init_fast.py --photos tubingen.jpg --size 256 --iterations 100

For every photo and painting of ``../shared/images``, one after the other in this process:

* ``default``: the default run (from the photo, coarse to fine); its objective at the end, at
  the output size, is the target;
* ``fast``: the same settings with ``init="fast"``;
* ``fast, one scale``: ``init="fast"`` at the output size only (the instant result already has
  the picture's large-scale structure that the coarse scales are for).

For each, the wall-clock seconds until the objective at the output size first reaches the target
(the instant network's pass included; a run that does not reach it says so), and the ratio to the
default's time. The networks are built before the first timed run. Writes
``bench/results/init_fast.md``, ``init_fast.json`` and ``init_fast.jpg`` (default | fast | instant
alone, per pair).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))
from tools.shared import IMAGES, cpu_model, output_size_trace  # noqa: E402

MODES = {"default": {}, "fast": {"init": "fast"}, "fast, one scale": {"init": "fast",
         "multiscale": False}}  # fmt: skip


def run_mode(photo: Any, painting: Any, settings: Any) -> tuple[list[tuple[float, float]], Any]:
    """(elapsed seconds, objective) at each step at the output size, and the result."""
    trace, image = output_size_trace(photo, painting, settings)
    return [(t, losses["total"]) for t, losses in trace], image


def first_reach(trace: list[tuple[float, float]], target: float) -> float | None:
    """Seconds until the objective first reaches ``target`` (None if it never does)."""
    return next((t for t, loss in trace if loss <= target * (1 + 1e-9)), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", nargs="+", default=["tubingen.jpg", "coffee.png"])
    p.add_argument("--paintings", nargs="+", help="file names in ../shared/images/style (all)")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--iterations", type=int, default=None, help="default: the library's")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--one-scale", action="store_true", help="also init fast at one scale")
    args = p.parse_args()

    import torch
    from PIL import Image

    from restyle.config import Settings
    from restyle.device import autocast_dtype
    from restyle.media.image import load_image
    from restyle.tasks.instant import instant

    torch.set_num_threads(args.threads)
    base = Settings(size=args.size)
    if args.iterations:
        base = base.replace(iterations=args.iterations)
    paintings = sorted((IMAGES / "style").glob("*.jpg"))
    if args.paintings:
        paintings = [IMAGES / "style" / name for name in args.paintings]
    photos = [IMAGES / "content" / name for name in args.photos]
    # Build the networks (VGG19 and the instant network) before anything is timed.
    warm = load_image(photos[0])
    instant(warm, [load_image(paintings[0])], base.replace(size=64))
    run_mode(warm, load_image(paintings[0]), base.replace(size=64, iterations=2))
    rows: list[dict[str, Any]] = []
    tiles: list[list[Image.Image]] = []
    for photo_path in photos:
        photo = load_image(photo_path)
        for painting_path in paintings:
            painting = load_image(painting_path)
            traces, images = {}, {}
            modes = {k: v for k, v in MODES.items() if args.one_scale or k != "fast, one scale"}
            for mode, change in modes.items():
                traces[mode], images[mode] = run_mode(photo, painting, base.replace(**change))
                print(f"{photo_path.name} / {painting_path.name} {mode}: "
                      f"{traces[mode][-1][0]:.1f} s, objective {traces[mode][-1][1]:.4g}",
                      file=sys.stderr, flush=True)  # fmt: skip
            target = traces["default"][-1][1]
            t_default = traces["default"][-1][0]
            row: dict[str, Any] = {"photo": photo_path.name, "painting": painting_path.name,
                                   "target": target, "default_s": t_default}  # fmt: skip
            for mode in [m for m in modes if m != "default"]:
                reach = first_reach(traces[mode], target)
                row[mode] = {
                    "reach_s": reach,
                    "ratio": None if reach is None else reach / t_default,
                    "final": traces[mode][-1][1],
                    "total_s": traces[mode][-1][0],
                }
            rows.append(row)
            tiles.append([images["default"], images["fast"], instant(photo, [painting], base)])
    result = {
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {args.threads} threads",
        "precision": str(autocast_dtype(torch.device("cpu"), base.precision) or torch.float32),
        "size": args.size,
        "iterations": base.iterations,
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "init_fast.json").write_text(json.dumps(result, indent=1) + "\n")
    text = report(result)
    (RESULTS / "init_fast.md").write_text(text)
    sheet(tiles, rows, RESULTS / "init_fast.jpg")
    print(text)


def report(result: dict[str, Any]) -> str:
    lines = [
        "# `--init fast`: the optimisation started from the instant result",
        "",
        f"{result['size']} px, {result['iterations']} steps, default settings otherwise. "
        f"Machine: {result['machine']}; the network ran in {result['precision']}. Seconds "
        "until the objective at the output size first reaches the default run's final value "
        "(the instant network's pass included), and that time over the default run's.",
        "",
    ]
    measured = [m for m in MODES if m != "default" and m in result["rows"][0]]
    lines += [
        "| photo | painting | default (s) | "
        + " | ".join(f"{m}: reached at (s) | ratio" for m in measured)
        + " |",
        "|---|---|---:|" + "---:|---:|" * len(measured),
    ]
    ratios: dict[str, list[float]] = {m: [] for m in measured}
    for r in result["rows"]:
        cells = []
        for mode in ratios:
            m = r[mode]
            if m["reach_s"] is None:
                cells += [f"not reached ({m['final'] / r['target']:.2f}x the target)", ""]
            else:
                cells += [f"{m['reach_s']:.1f}", f"{m['ratio']:.2f}"]
                ratios[mode].append(m["ratio"])
        lines.append(f"| {r['photo']} | {r['painting']} | {r['default_s']:.1f} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    lines.append("")
    n = len(result["rows"])
    for mode, values in ratios.items():
        if values:
            lines.append(
                f"- {mode}: reached the target on {len(values)} of {n} pairs; ratio median "
                f"{statistics.median(values):.2f}, worst {max(values):.2f}."
            )
        else:
            lines.append(f"- {mode}: reached the target on none of {n} pairs.")
    lines += ["", "![default | fast | instant alone](init_fast.jpg)", ""]
    return "\n".join(lines)


def sheet(tiles: list[list[Any]], rows: list[dict[str, Any]], path: Path) -> None:
    from tools.figures import contact_sheet

    labels = [f"{r['photo']}\n{Path(r['painting']).stem}" for r in rows]
    image = contact_sheet(
        tiles,
        title="Default run | --init fast | the instant result alone",
        columns=["default (from the photo)", "--init fast", "instant alone (--fast)"],
        rows=labels,
        cell_size=(240, 240),
    )
    image.convert("RGB").save(path, quality=85)


if __name__ == "__main__":
    main()
