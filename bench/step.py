"""Time per optimisation step and achieved GFLOP/s of the VGG19 forward + input-gradient
backward at 256, 512 and 1024 px, beside this machine's measured matmul peak and the floor it
implies, with the peak memory of each run.

    python bench/step.py                    # the table at 256, 512 and 1024 px
    python bench/step.py --study            # also: precision x memory layout at 512 px
    python bench/step.py --sizes 512 --steps 8 --repeats 3 --threads 2

Every measurement runs in a child process (so that its peak resident memory, ``ru_maxrss``, is
its own) through the public API: ``stylize_iter`` with one scale, the default objective, a
photo and a painting from ``../shared/images`` (or noise if they are missing), and L-BFGS.
Step times are the fastest steady step of ``--repeats`` children, and each child also reports
how many objective evaluations its steps took (a rejected L-BFGS trial costs one more).

Writes ``bench/results/step.md`` and ``bench/results/step.png`` and prints the table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))
from tools.shared import IMAGES, cpu_model  # noqa: E402

CONTENT = IMAGES / "content" / "tubingen.jpg"
STYLE = IMAGES / "style" / "starry_night.jpg"


# ----- arithmetic ---------------------------------------------------------------------------


def vgg_flops(width: int, height: int, last: str = "relu5_1") -> float:
    """FLOPs of one forward + input-gradient backward through VGG19 up to ``last``.

    A 3x3 convolution costs 2 * 9 * C_in * C_out * H * W FLOPs in the forward pass and the
    same again for the gradient with respect to its input; no weight gradients are computed
    (the network is frozen). Poolings, ReLUs and the Gram matrices are not counted.
    """
    from restyle.config import CONV_SPECS, LAYER_NAMES

    specs = {name: (cin, cout) for name, cin, cout in CONV_SPECS}
    total, h, w = 0.0, height, width
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        if name.startswith("conv"):
            cin, cout = specs[name]
            total += 2 * 9 * cin * cout * h * w
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
    return 2 * total


def gram_flops(width: int, height: int) -> float:
    """FLOPs of the style term's products per evaluation at the default style layers: the Gram
    matrix ``F^T F`` (2 P C^2, computed in float32) and its gradient ``K F`` (2 P C^2, in the
    network's precision) at each layer with P positions and C channels. Returns the FLOPs of
    one of the two (they are equal): the style term's products cost twice the result."""
    from restyle.config import CONV_SPECS, Settings
    from restyle.net.vgg import feature_stride

    channels = {f"relu{name[4:]}": cout for name, _, cout in CONV_SPECS}
    total = 0.0
    for layer in Settings().style_layers:
        stride = feature_stride(layer)
        total += 2 * (height // stride) * (width // stride) * channels[layer] ** 2
    return total


def matmul_peak(dtype_name: str, n: int = 2048, budget_s: float = 2.0) -> float:
    """Best GFLOP/s of an n x n x n matmul in ``dtype_name`` with torch's current threads.

    A CPU without native bfloat16 emulates it hundreds of times slower than float32 (0.3
    GFLOP/s against 122 on an AVX2 EPYC), where one 2048^3 product takes a minute: the size is
    halved until a product takes under a tenth of ``budget_s``, and repeats stop at the budget.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    while True:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        t = time.perf_counter()
        a @ b
        if time.perf_counter() - t < budget_s / 10 or n <= 128:
            break
        n //= 2
    best, spent = float("inf"), 0.0
    for i in range(50):
        t = time.perf_counter()
        a @ b
        dt = time.perf_counter() - t
        best, spent = min(best, dt), spent + dt
        if i >= 3 and spent > budget_s:
            break
    return 2 * n**3 / best / 1e9


def cpu_name() -> str:
    """The CPU's model name and the vector extensions torch dispatches to."""
    import torch

    return f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()})"


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ----- one measurement (child process) ------------------------------------------------------


def child(size: int, steps: int, precision: str, layout: str, threads: int) -> dict[str, Any]:
    """Run ``steps`` single-scale steps at ``size`` px (longest side) and time each one."""
    import torch

    torch.set_num_threads(threads)
    from PIL import Image

    import restyle.net.cache
    from restyle import Settings, stylize_iter
    from restyle.device import autocast_dtype
    from restyle.net.vgg import VGGFeatures

    cpu = torch.device("cpu")
    if layout == "nchw":  # the measurement of the alternative layout
        restyle.net.cache.memory_format = lambda device: torch.contiguous_format  # type: ignore[assignment]
    evaluations = 0
    forward = VGGFeatures.forward

    def counting(self: VGGFeatures, *args: Any, **kwargs: Any) -> Any:
        nonlocal evaluations
        evaluations += torch.is_grad_enabled()
        return forward(self, *args, **kwargs)

    VGGFeatures.forward = counting  # type: ignore[method-assign]
    if CONTENT.is_file() and STYLE.is_file():
        content, style = Image.open(CONTENT).convert("RGB"), Image.open(STYLE).convert("RGB")
    else:  # pragma: no cover - outside the project's checkout
        gen = torch.Generator().manual_seed(0)
        noise = (torch.rand(size, size, 3, generator=gen) * 255).to(torch.uint8).numpy()
        content = style = Image.fromarray(noise)
    s = Settings(
        size=size,
        iterations=steps,
        multiscale=False,
        tolerance=0.0,
        precision=precision,  # type: ignore[arg-type]
    )
    run = stylize_iter(content, style, s)
    stamps, evals, cpus = [time.perf_counter()], [0], [_cpu_seconds()]
    for p in run:
        stamps.append(time.perf_counter())
        evals.append(evaluations)
        cpus.append(_cpu_seconds())
        width, height = p.width, p.height
    # Progress reports trail their step by one: the first interval holds the setup (network,
    # targets) and the first step, so it is left out.
    per_step = [
        ((b - a), (eb - ea), (cb - ca))
        for (a, b), (ea, eb), (ca, cb) in zip(
            itertools.pairwise(stamps),
            itertools.pairwise(evals),
            itertools.pairwise(cpus),
            strict=True,
        )
    ][1:]
    per_step = [x for x in per_step if x[1] > 0]
    per_eval = [t / e for t, e, _ in per_step]
    return {
        "size": size,
        "width": width,
        "height": height,
        "precision": precision,
        "layout": layout,
        "threads": threads,
        "eval_s": min(per_eval),
        "eval_s_median": sorted(per_eval)[len(per_eval) // 2],
        "evals_per_step": sum(e for _, e, _ in per_step) / max(1, len(per_step)),
        "cpu_use": sum(c for _, _, c in per_step) / max(1e-9, sum(t for t, _, _ in per_step)),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "network_dtype": "bfloat16"
        if autocast_dtype(cpu, precision) == torch.bfloat16
        else "float32",
    }


def measure(size: int, args: argparse.Namespace, precision: str, layout: str) -> dict[str, Any]:
    """The best of ``args.repeats`` child runs (each in its own process)."""
    best: dict[str, Any] | None = None
    for _ in range(args.repeats):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(size),
            "--steps",
            str(args.steps),
            "--precision",
            precision,
            "--layout",
            layout,
            "--threads",
            str(args.threads),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or r["eval_s"] < best["eval_s"]:
            peak = max(r["peak_mib"], best["peak_mib"]) if best else r["peak_mib"]
            best = r | {"peak_mib": peak}
        else:
            best["peak_mib"] = max(best["peak_mib"], r["peak_mib"])
    assert best is not None
    return best


# ----- the report ---------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--sizes", default="256,512,1024", help="longest sides in px (default %(default)s)"
    )
    p.add_argument("--steps", type=int, default=6, help="steps per child run (default %(default)s)")
    p.add_argument(
        "--repeats", type=int, default=2, help="child runs per case (default %(default)s)"
    )
    p.add_argument("--precision", default="auto", help="network precision (default auto)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    p.add_argument("--study", action="store_true", help="also precision x layout at 512 px")
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--layout", default="nhwc", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        r = child(args.child, args.steps, args.precision, args.layout, args.threads)
        print(json.dumps(r))
        return

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    peaks = {"float32": 0.0, "bfloat16": 0.0}

    def refresh_peaks() -> None:
        for name in peaks:
            peaks[name] = max(peaks[name], matmul_peak(name))

    refresh_peaks()
    rows = []
    for size in [int(x) for x in args.sizes.split(",")]:
        r = measure(size, args, args.precision, "nhwc")
        refresh_peaks()  # the best peak seen across the run: contention only lowers it
        rows.append(r)
        print(json.dumps(r), flush=True)
    study = []
    if args.study:
        # bfloat16 emulated in software would take many minutes per step: not studied there
        dtypes = ("float32", "bfloat16") if peaks["bfloat16"] > peaks["float32"] else ("float32",)
        for precision, layout in itertools.product(dtypes, ("nchw", "nhwc")):
            r = measure(512, args, precision, layout)
            refresh_peaks()
            study.append(r)
            print(json.dumps(r), flush=True)
    load_after = os.getloadavg()

    def derive(r: dict[str, Any]) -> dict[str, Any]:
        flops = vgg_flops(r["width"], r["height"])
        peak = peaks[r["network_dtype"]]
        gram = gram_flops(r["width"], r["height"])
        # every matrix product of an evaluation at its precision's peak: the convolutions and
        # K F in the network's precision, F^T F in float32
        floor_all = (flops + gram) / (peak * 1e9) + gram / (peaks["float32"] * 1e9)
        return r | {
            "floor_all_s": floor_all,
            "ratio_all": r["eval_s"] / floor_all,
            "gflop": flops / 1e9,
            "gflops_per_s": flops / r["eval_s"] / 1e9,
            "floor_s": flops / (peak * 1e9),
            "ratio": r["eval_s"] / (flops / (peak * 1e9)),
            "floor32_s": flops / (peaks["float32"] * 1e9),
        }

    rows = [derive(r) for r in rows]
    study = [derive(r) for r in study]
    lines = report(rows, study, peaks, args, load_before, load_after)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(rows, peaks)


def report(
    rows: list[dict[str, Any]],
    study: list[dict[str, Any]],
    peaks: dict[str, float],
    args: argparse.Namespace,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> list[str]:
    import torch

    dtype = rows[0]["network_dtype"] if rows else "?"
    lines = [
        "# Time per optimisation step",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPUs "
        f"({torch.__version__}, {args.threads} threads). Network precision: {dtype} "
        f"(``precision={args.precision}``), channels-last layout.",
        "Measured matmul peak (up to 2048^3, best of several): "
        f"{peaks['float32']:.0f} GFLOP/s float32, "
        f"{peaks['bfloat16']:.0f} GFLOP/s bfloat16.",
        f"Load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}. "
        "The machine is shared; 'CPU use' is the measured run's CPU seconds per wall second "
        f"(at most {args.threads}): below that, other jobs took cores.",
        "",
        "| size (px) | GFLOP / eval | eval (s, best) | eval (s, median) | evals / step "
        "| achieved GFLOP/s | floor (s) | best / floor | floor with Grams (s) | best / that "
        "| CPU use | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['width']}x{r['height']} | {r['gflop']:.0f} | {r['eval_s']:.2f} "
            f"| {r['eval_s_median']:.2f} | {r['evals_per_step']:.2f} | {r['gflops_per_s']:.0f} "
            f"| {r['floor_s']:.2f} | {r['ratio']:.2f} | {r['floor_all_s']:.2f} "
            f"| {r['ratio_all']:.2f} | {r['cpu_use']:.2f} | {r['peak_mib']:.0f} |"
        )
    lines += [
        "",
        "An evaluation is one forward pass to relu5_1 and one backward pass for the image's "
        "gradient (no weight gradients) plus the Gram matrices and the losses; an L-BFGS step "
        "takes one evaluation unless a trial point is rejected. GFLOP counts the convolutions "
        "only (forward + input gradient); the floor is that count at the measured matmul peak "
        f"of the network's precision ({dtype}). 'Floor with Grams' adds the style term's matrix "
        "products, which the objective cannot do without: the Gram matrices F^T F (float32, "
        "at the float32 peak) and their gradients K F (at the network precision's peak). "
        "Peak RSS is the whole process (Python, torch, "
        f"weights, L-BFGS memory) after {args.steps} steps.",
    ]
    if study:
        lines += [
            "",
            "## Precision and memory layout at 512 px",
            "",
            "| precision | layout | eval (s, best) | achieved GFLOP/s | floor (s) "
            "| best / floor | CPU use | peak RSS (MiB) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in study:
            lines.append(
                f"| {r['network_dtype']} | {r['layout'].upper()} | {r['eval_s']:.2f} "
                f"| {r['gflops_per_s']:.0f} | {r['floor_s']:.2f} | {r['ratio']:.2f} "
                f"| {r['cpu_use']:.2f} | {r['peak_mib']:.0f} |"
            )
        lines += [
            "",
            "The floor of each row is at the matmul peak of its own precision. bfloat16 runs "
            "every convolution but conv1_1 in bfloat16 (conv1_1, Grams, losses and pixels stay "
            "float32).",
        ]
    return lines


def plot(rows: list[dict[str, Any]], peaks: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['width']}x{r['height']}" for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].bar([i - 0.2 for i in x], [r["eval_s"] for r in rows], 0.4, label="measured (best)")
    ax[0].bar([i + 0.2 for i in x], [r["floor_s"] for r in rows], 0.4, label="matmul floor")
    for i, r in zip(x, rows, strict=True):
        ax[0].annotate(
            f"{r['gflops_per_s']:.0f} GFLOP/s\n{r['ratio']:.2f}x floor",
            (i - 0.2, r["eval_s"]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax[0].set(
        xticks=list(x),
        xticklabels=labels,
        ylabel="seconds per evaluation",
        yscale="log",
        title=f"step time ({rows[0]['network_dtype'] if rows else ''})",
    )
    ax[0].legend(fontsize=8, loc="upper left")
    ax[1].bar(list(x), [r["peak_mib"] for r in rows], 0.5, color="tab:green")
    ax[1].set(xticks=list(x), xticklabels=labels, ylabel="MiB", title="peak resident memory")
    fig.tight_layout()
    fig.savefig(RESULTS / "step.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
