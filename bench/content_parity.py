"""Coarse to fine beside one scale at the same objective value: does the coarse-to-fine picture
keep as much of the photo when the style weighs heavily?

    python bench/content_parity.py                                  # 8 pairs x strengths 3, 10
    python bench/content_parity.py --pairs tubingen:starry_night --strengths 1,3,10
    python bench/content_parity.py --reuse                          # keep the runs in the JSON

For each pair of a photo and a painting (``--pairs``, as in ``vs_pastiche.py``) and each
``--style-strength`` (``--strengths``), three runs of restyle's own objective at ``--size`` px
and ``--iterations`` steps, one after the other in this process:

* ``one scale`` (``multiscale=False``): the reference;
* ``coarse to fine``: the default (the coarse scales held to the default weights' balance,
  ``Settings.coarse_style_limit`` 1);
* ``before``: coarse to fine with ``coarse_style_limit=0`` (the coarse scales at the
  objective's own balance, as before 2026-12-02).

Each coarse-to-fine run's final objective value (at the output size) is looked up in the
one-scale run's trace: the first step at or below it. The content part of the objective there
is compared with the coarse-to-fine run's: ``content ratio`` = coarse to fine / one scale at
the same objective value (1: as close to the photo; below 1: closer). When a coarse-to-fine run
ends below one scale's final value, its content part is compared with one scale's final one
and the table says so. Also reported: each run's seconds and the seconds one scale needed to
get to that value.

Writes ``bench/results/content_parity.md``, ``.json`` (after every pair and strength, so an
interrupted run keeps what it finished and ``--reuse`` resumes it) and ``.jpg`` (one row per
pair and strength: one scale | before | coarse to fine; from the images of ``--work``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))
from tools.shared import (  # noqa: E402
    IMAGES,
    PHOTOS,
    cpu_description,
    output_size_trace,
    paintings,
    parse_pairs,
)

#: The runs per pair and strength: name -> changes to the settings.
MODES: dict[str, dict[str, Any]] = {
    "one scale": {"multiscale": False},
    "before": {"coarse_style_limit": 0.0},
    "coarse to fine": {},
}
COMPARED = ("before", "coarse to fine")


def run_mode(photo: Any, painting: Any, settings: Any) -> tuple[list[list[float]], Any]:
    """[objective, content part, seconds] at each step at the output size, and the result."""
    trace, image = output_size_trace(photo, painting, settings)
    return [[losses["total"], losses["content"], t] for t, losses in trace], image


def compare(single: list[list[float]], trace: list[list[float]]) -> dict[str, Any]:
    """A coarse-to-fine trace's end beside the one-scale trace at the same objective value."""
    loss, content, seconds = trace[-1]
    at = next((i for i, row in enumerate(single) if row[0] <= loss * (1 + 1e-9)), None)
    # ended below one scale's final value: compare with its end
    ref = single[-1] if at is None else single[at]
    return {
        "loss": loss,
        "content": content,
        "seconds": seconds,
        "single_step": None if at is None else at + 1,
        "single_seconds": None if at is None else ref[2],
        "single_content": ref[1],
        "ratio": content / ref[1],
        "below_single_final": at is None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", default="all", help="all, or PHOTO:PAINTING,... (file stems)")
    p.add_argument("--strengths", default="3,10", help="--style-strength values, comma-separated")
    p.add_argument("--size", type=int, default=400)
    p.add_argument("--iterations", type=int, default=120)
    p.add_argument("--work", type=Path, default=Path("/tmp/restyle_content_parity"))
    p.add_argument("--reuse", action="store_true", help="keep the entries already in the JSON")
    args = p.parse_args()
    try:
        strengths = [float(x) for x in args.strengths.split(",")]
    except ValueError:
        raise SystemExit(
            f"--strengths: numbers separated by commas, got {args.strengths!r}"
        ) from None
    pairs = parse_pairs(args.pairs)

    import torch

    from restyle.config import Settings
    from restyle.device import autocast_dtype
    from restyle.media.image import load_image

    base = Settings(size=args.size, iterations=args.iterations)
    out = RESULTS / "content_parity.json"
    entries: list[dict[str, Any]] = []
    if args.reuse and out.is_file():
        entries = json.loads(out.read_text())["entries"]
    result: dict[str, Any] = {
        "machine": cpu_description(),
        "precision": str(
            autocast_dtype(torch.device("cpu"), base.precision) or torch.float32
        ).removeprefix("torch."),
        "torch": torch.__version__,
        "entries": entries,
    }
    args.work.mkdir(parents=True, exist_ok=True)
    # build the network before anything is timed
    warm = load_image(IMAGES / "content" / PHOTOS[pairs[0][0]])
    run_mode(warm, load_image(IMAGES / "style" / paintings()[pairs[0][1]]), base.replace(size=64))
    for photo, painting in pairs:
        for strength in strengths:
            key = {"photo": photo, "painting": painting, "strength": strength,
                   "size": args.size, "iterations": args.iterations}  # fmt: skip
            if any(all(e.get(k) == v for k, v in key.items()) for e in entries):
                continue
            content = load_image(IMAGES / "content" / PHOTOS[photo])
            style = load_image(IMAGES / "style" / paintings()[painting])
            traces = {}
            for mode, change in MODES.items():
                s = base.replace(style_strength=strength, **change)
                traces[mode], image = run_mode(content, style, s)
                image.save(args.work / f"{_stem(key)}_{mode.replace(' ', '_')}.png")
                print(f"{photo} + {painting}, strength {strength:g}, {mode}: "
                      f"{traces[mode][-1][2]:.1f} s, objective {traces[mode][-1][0]:.4g}",
                      file=sys.stderr, flush=True)  # fmt: skip
            single = traces["one scale"]
            entry = {**key, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "single": {"loss": single[-1][0], "content": single[-1][1],
                                "seconds": single[-1][2]}}  # fmt: skip
            for mode in COMPARED:
                entry[mode] = compare(single, traces[mode])
            entries.append(entry)
            _write_text(out, json.dumps(result, indent=1) + "\n")
    _write_text(RESULTS / "content_parity.md", report(result))
    sheet(result["entries"], args.work, RESULTS / "content_parity.jpg")
    print(report(result))


def _stem(entry: dict[str, Any]) -> str:
    return f"{entry['photo']}_{entry['painting']}_s{entry['strength']:g}_{entry['size']}"


def _write_text(path: Path, text: str) -> None:
    """``text`` written atomically (restyle's own writer), so a kill leaves the last copy."""
    from restyle.media.image import write_atomically

    def write(fh: IO[bytes]) -> None:
        fh.write(text.encode())

    write_atomically(path, str(path), write)


def _cell(c: dict[str, Any]) -> str:
    where = (
        "below one scale's end" if c["below_single_final"]
        else f"step {c['single_step']}, {c['single_seconds']:.0f} s"
    )  # fmt: skip
    run = f"{c['loss']:.3f} ({c['content']:.3f}), {c['seconds']:.0f} s"
    return f"{run} | {where} | **{c['ratio']:.3f}**"


def report(result: dict[str, Any]) -> str:
    entries = result["entries"]
    lines = [
        "# Coarse to fine beside one scale at the same objective value",
        "",
        f"Machine: {result['machine']}; torch {result['torch']}; the network ran in "
        f"{result['precision']}. restyle's own objective, `--style-strength` as given, "
        "`python bench/content_parity.py`. Each coarse-to-fine run's final objective is looked "
        "up in the one-scale run's trace; content ratio = its content part over one scale's "
        'there (below 1: closer to the photo). "before": `coarse_style_limit=0`, the coarse '
        "scales at the objective's own balance.",
        "",
        "| pair | strength | one scale: loss (content), s | before: loss (content), s | "
        "one scale there | content ratio | coarse to fine: loss (content), s | one scale there "
        "| content ratio |",
        "|---|---:|---|---|---|---:|---|---|---:|",
    ]
    for e in entries:
        s = e["single"]
        lines.append(
            f"| {e['photo']} + {e['painting']} | {e['strength']:g} | {s['loss']:.3f} "
            f"({s['content']:.3f}), {s['seconds']:.0f} s | "
            + " | ".join(_cell(e[m]) for m in COMPARED)
            + " |"
        )
    lines.append("")
    for mode in COMPARED:
        for strength in sorted({e["strength"] for e in entries}):
            ratios = [e[mode]["ratio"] for e in entries if e["strength"] == strength]
            lines.append(
                f"- {mode}, strength {strength:g}: content ratio median "
                f"{statistics.median(ratios):.3f}, worst {max(ratios):.3f} ({len(ratios)} pairs)"
            )
    lines += ["", "![one scale | before | coarse to fine](content_parity.jpg)", ""]
    return "\n".join(lines)


def sheet(entries: list[dict[str, Any]], work: Path, path: Path) -> None:
    from PIL import Image
    from tools.figures import contact_sheet

    rows, labels, captions = [], [], []
    for e in entries:
        files = [work / f"{_stem(e)}_{m.replace(' ', '_')}.png" for m in MODES]
        rows.append([Image.open(f) if f.is_file() else None for f in files])
        painting = textwrap.fill(e["painting"].replace("_", " "), 14)
        labels.append(f"{e['photo']}\n{painting}\nstrength {e['strength']:g}")
        captions.append(
            [f"loss {e['single']['loss']:.3f}"]
            + [f"loss {e[m]['loss']:.3f}, content x{e[m]['ratio']:.2f}" for m in COMPARED]
        )
    image = contact_sheet(
        rows,
        title="One scale | before | coarse to fine (content ratio at equal loss)",
        columns=list(MODES),
        rows=labels,
        captions=captions,
        cell_size=(300, 225),
    )
    image.convert("RGB").save(path, quality=85)


if __name__ == "__main__":
    main()
