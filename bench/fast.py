"""Seconds per image of instant style transfer (Ghiasi et al. 2017, one forward pass) at 256,
512 and 1024 px, on every photo in ``../shared/images/content`` with every painting in
``../shared/images/style``, and a contact sheet of the 512-px results.

    python bench/fast.py                        # 256, 512 and 1024 px, 3 runs per pair
    python bench/fast.py --sizes 512 --repeats 5 --threads 1 2
    python bench/fast.py --no-sheet

Each run is one call of :func:`restyle.tasks.instant.instant` (resize the photo, the painting's
embedding, the transformer, back to PIL) with default settings and the size given. Loading the
networks is timed apart, and so is the first call after it (oneDNN sets up its kernels then);
the table gives the best and the median of the other runs, and the CPU seconds they took (the
machine may be shared: a CPU use below the thread count means other jobs had cores). On a
loaded machine, run it with ``OMP_WAIT_POLICY=PASSIVE``: OpenMP threads that spin while they
wait for a descheduled partner multiply the wall time of this network's many small operations
(measured here under a load average of 16 on 2 cores: 1.6 s best, 4.7 s median at 512 px
with 2 spinning threads; 0.55 s and 0.70 s with passive ones). With
onnxruntime installed, the shipped ONNX graphs are also timed at their fixed 384 x 384 beside
the port at the same size.

Writes ``bench/results/fast.md`` and ``bench/results/fast_sheet.jpg`` and prints the table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))
from tools.shared import IMAGES, cpu_model  # noqa: E402

#: Longest side of each sheet tile (the results are made at 512 px and shown smaller).
SHEET_TILE = 320
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of one call."""
    c, t = _cpu_seconds(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, _cpu_seconds() - c


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def vs_onnxruntime(repeats: int, threads: int) -> dict[str, float] | None:
    """Best seconds of the shipped ONNX graphs (onnxruntime) and of the port, both at 384 x 384
    content and 256 x 256 style, or None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import torch

    from restyle.net import arbitrary as arb

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    t = time.perf_counter()
    predict = ort.InferenceSession(
        str(arb.model_path(arb.PREDICT_FILE)), options, providers=["CPUExecutionProvider"]
    )
    transform = ort.InferenceSession(
        str(arb.model_path(arb.TRANSFORM_FILE)), options, providers=["CPUExecutionProvider"]
    )
    load = time.perf_counter() - t
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 384, 384, generator=gen)
    style = torch.rand(1, 3, 256, 256, generator=gen)
    c_np = content.permute(0, 2, 3, 1).numpy()
    s_np = style.permute(0, 2, 3, 1).numpy()

    def run_ort() -> Any:
        e = predict.run(None, {"style_image": s_np})[0]
        return transform.run(None, {"content_image": c_np, "mobilenet_conv/Conv/BiasAdd": e})

    def run_port() -> Any:
        return arb.stylize(content, arb.style_embedding(style))

    out: dict[str, float] = {"ort_load": load}
    for name, fn in (("ort", run_ort), ("port", run_port)):
        _, first, _ = _timed(fn)
        times = [_timed(fn)[1] for _ in range(max(3, repeats))]
        out[f"{name}_first"] = first
        out[f"{name}_best"] = min(times)
        out[f"{name}_median"] = statistics.median(times)
    return out


def components(size: int, repeats: int) -> dict[str, float]:
    """Best seconds of the style predictor (256 x 256) and of the transformer at ``size`` px
    (4:3), on their own."""
    import torch

    from restyle.net import arbitrary as arb

    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, size * 3 // 4, size, generator=gen)
    style = torch.rand(1, 3, 256, 256, generator=gen)
    embedding = arb.style_embedding(style)
    arb.stylize(content, embedding)
    predictor = min(_timed(lambda: arb.style_embedding(style))[1] for _ in range(repeats))
    transformer = min(_timed(lambda: arb.stylize(content, embedding))[1] for _ in range(repeats))
    return {"predictor": predictor, "transformer": transformer}


def sheet(photos: list[Any], paintings: list[Any], results: dict[tuple[int, int], Any]) -> Any:
    """Photos down the side, paintings across the top, each result where they meet."""
    from PIL import Image, ImageOps

    tile, gap = SHEET_TILE, 6
    cols, rows = len(paintings) + 1, len(photos) + 1
    out = Image.new(
        "RGB", (cols * tile + (cols + 1) * gap, rows * tile + (rows + 1) * gap), "white"
    )

    def put(img: Any, row: int, col: int) -> None:
        fitted = ImageOps.contain(img, (tile, tile), Image.Resampling.LANCZOS)
        x = gap + col * (tile + gap) + (tile - fitted.width) // 2
        y = gap + row * (tile + gap) + (tile - fitted.height) // 2
        out.paste(fitted, (x, y))

    for j, painting in enumerate(paintings):
        put(painting, 0, j + 1)
    for i, photo in enumerate(photos):
        put(photo, i + 1, 0)
        for j in range(len(paintings)):
            put(results[i, j], i + 1, j + 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3, help="runs per photo and painting")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[0],
        help="torch thread counts to measure, one table row each per size (0: torch's default)",
    )
    parser.add_argument("--no-sheet", action="store_true", help="skip the 512-px contact sheet")
    parser.add_argument(
        "--model",
        help="a model file of restyle train: also time it, plot its training curve, and score "
        "optimisation / arbitrary network / the model on the same photos (--compare-size px)",
    )
    parser.add_argument("--compare-size", type=int, default=384)
    parser.add_argument(
        "--model-style", help="the model's painting (default: the name its file records)"
    )
    args = parser.parse_args()

    import torch
    from PIL import Image

    from restyle.config import Settings
    from restyle.media.image import load_image
    from restyle.net.arbitrary import load_arbitrary
    from restyle.tasks.instant import instant

    default_threads = torch.get_num_threads()
    thread_counts = [t or default_threads for t in args.threads]
    photo_paths = _images(IMAGES / "content")
    painting_paths = _images(IMAGES / "style")
    if not photo_paths or not painting_paths:
        raise SystemExit(f"no photos or paintings under {IMAGES}")
    photos = [load_image(p, role="content") for p in photo_paths]
    paintings = [load_image(p, role="style") for p in painting_paths]
    load_before = os.getloadavg()

    torch.set_num_threads(thread_counts[0])
    _, load_s, _ = _timed(lambda: load_arbitrary("cpu"))
    _, first_s, _ = _timed(lambda: instant(photos[0], [paintings[0]], Settings(size=512)))

    rows: list[dict[str, Any]] = []
    ort: dict[int, dict[str, float] | None] = {}
    results: dict[tuple[int, int], Image.Image] = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for size in args.sizes:
            settings = Settings(size=size)
            walls, cpus = [], []
            for i, photo in enumerate(photos):
                for j, painting in enumerate(paintings):
                    for r in range(args.repeats):
                        img, wall, cpu = _timed(partial(instant, photo, [painting], settings))
                        walls.append(wall)
                        cpus.append(cpu)
                        if size == 512 and r == 0:
                            results[i, j] = img
            rows.append(
                {
                    "threads": threads,
                    "size": size,
                    "runs": len(walls),
                    "best": min(walls),
                    "median": statistics.median(walls),
                    "cpu": statistics.median(cpus),
                    "use": sum(cpus) / sum(walls),
                    **components(size, args.repeats),
                }
            )
            print(
                f"{threads} threads, {size:5d} px: best {min(walls):.3f} s, median "
                f"{statistics.median(walls):.3f} s ({len(walls)} runs)",
                flush=True,
            )
        ort[threads] = vs_onnxruntime(args.repeats, threads)
    load_after = os.getloadavg()

    text = report(rows, load_s, first_s, thread_counts[0], ort, load_before[0], load_after[0])
    if args.model:
        torch.set_num_threads(thread_counts[0])
        text += trained_model(Path(args.model), photos, photo_paths, args.sizes, args.repeats,
                              args.compare_size, args.model_style)  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fast.md").write_text(text)
    print(text)
    if not args.no_sheet:
        if 512 not in args.sizes:
            settings = Settings(size=512)
            for i, photo in enumerate(photos):
                for j, painting in enumerate(paintings):
                    results[i, j] = instant(photo, [painting], settings)
        sheet(photos, paintings, results).save(RESULTS / "fast_sheet.jpg", quality=88)
        print(f"wrote {RESULTS / 'fast_sheet.jpg'}")


def trained_model(
    path: Path,
    photos: list[Any],
    photo_paths: list[Path],
    sizes: list[int],
    repeats: int,
    compare_size: int,
    style: str | None = None,
) -> str:
    """The trained model's section: seconds (and frames per second) per image at each size and
    at 320 px; its training curve (``train_curve.png``); and, on every photo, the scores of the
    optimisation's default run, the arbitrary network and the model with the model's painting,
    with a contact sheet of the three (``fast_compare.jpg``)."""
    from tools.figures import contact_sheet

    from restyle.config import Settings
    from restyle.media.paintings import resolve_style
    from restyle.metrics import Scorer
    from restyle.tasks.apply import open_model
    from restyle.tasks.instant import instant
    from restyle.tasks.train import load_model, photo_files

    painter = open_model(str(path))
    info = load_model(path).info
    lines = [
        "",
        f"## A trained model: {path.name} (style: {style or info.get('style')})",
        "",
        f"Trained by `restyle train` for {info.get('step')} steps "
        f"({info.get('options', {}).get('size')} px crops x "
        f"{info.get('options', {}).get('batch_size')}) in "
        + (
            f"{info['seconds'] / 60:.1f} minutes (the model file's record)"
            if info.get("seconds")
            else "a time the model file does not record"
        )
        + "; the training curve is `train_curve.png`.",
        "",
        "| size (px) | runs | best (s) | median (s) | frames per second (median) |",
        "|---|---|---|---|---|",
    ]
    for size in sorted({*sizes, 320}):
        settings = Settings(size=size)
        painter.paint(photos[0], settings)  # the first call at a size sets up its kernels
        walls = [_timed(partial(painter.paint, p, settings))[1] for p in photos
                 for _ in range(repeats)]  # fmt: skip
        med = statistics.median(walls)
        lines.append(f"| {size} | {len(walls)} | {min(walls):.3f} | {med:.3f} | {1 / med:.1f} |")
    _curve(info.get("losses", []), RESULTS / "train_curve.png")

    # Scores of the three ways on every photo, with the model's painting.
    painting = resolve_style(style or str(info.get("style")))
    trained_on = {p.name for p in photo_files()}  # the default training photos
    settings = Settings(size=compare_size)
    lines += [
        "",
        f"Scores (`restyle score`: content distance, 0 = the photo; style distance, 1 = the "
        f"photo's) at {compare_size} px with the model's painting; the optimisation is the "
        "default run. Photos marked * are among the training photos (the package photos).",
        "",
        "| photo | optimisation: content / style (s) | arbitrary network | trained model |",
        "|---|---|---|---|",
    ]
    tiles, labels = [], []
    ratios = []
    for photo, photo_path in zip(photos, photo_paths, strict=True):
        from restyle.api import stylize_iter

        run = stylize_iter(photo, painting, settings)
        began = time.perf_counter()
        for _ in run:
            pass
        optimised, opt_s = run.image(), time.perf_counter() - began
        arbitrary = instant(photo, [painting], settings)
        trained = painter.paint(photo, settings)
        scorer = Scorer(photo, painting)
        scores = [scorer.score(img) for img in (optimised, arbitrary, trained)]
        seen = "*" if photo_path.name in trained_on else ""
        cells = [f"{sc.content:.3f} / {sc.style:.3f}" for sc in scores]
        cells[0] += f" ({opt_s:.0f} s)"
        lines.append(f"| {photo_path.name}{seen} | " + " | ".join(cells) + " |")
        ratios.append(scores[2].style / scores[0].style)
        tiles.append([optimised, arbitrary, trained])
        labels.append(f"{photo_path.name}{seen}")
    lines += [
        "",
        f"Trained model's style distance over the optimisation's: median "
        f"{statistics.median(ratios):.2f}, worst {max(ratios):.2f}.",
        "",
        "![optimisation | arbitrary | trained](fast_compare.jpg)",
    ]
    sheet_ = contact_sheet(
        tiles,
        title=f"Optimisation (default run) | arbitrary network | trained model ({path.name})",
        columns=["optimisation", "arbitrary network (--fast)", "trained model (restyle apply)"],
        rows=labels,
        cell_size=(260, 260),
    )
    sheet_.convert("RGB").save(RESULTS / "fast_compare.jpg", quality=85)
    return "\n".join(lines) + "\n"


def _curve(losses: list[float], path: Path) -> None:
    """The training loss per step and its running mean over 50 steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not losses:
        return
    k = 50
    mean = [statistics.fmean(losses[max(0, i - k + 1) : i + 1]) for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.5, alpha=0.4, label="per step")
    ax.plot(range(1, len(mean) + 1), mean, lw=1.5, label=f"mean of {k} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("objective per crop")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title("restyle train: loss")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(
    rows: list[dict[str, Any]],
    load_s: float,
    first_s: float,
    first_threads: int,
    ort: dict[int, dict[str, float] | None],
    load_before: float,
    load_after: float,
) -> str:
    import torch

    photos = ", ".join(p.name for p in _images(IMAGES / "content"))
    paintings = ", ".join(p.name for p in _images(IMAGES / "style"))
    lines = [
        "# Instant style transfer (Ghiasi et al. 2017): seconds per image",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, float32, "
        "channels-last. OMP_WAIT_POLICY: "
        f"{os.environ.get('OMP_WAIT_POLICY', 'unset (waiting threads spin for a while)')}.",
        f"Load average (1 min) before / after: {load_before:.2f} / {load_after:.2f}. The machine "
        "may be shared: 'CPU use' is CPU seconds per wall second of the runs (at most the "
        "thread count); below that, other jobs took cores and the wall times are longer than "
        "on an idle machine. With one thread, 'CPU s' is the work an image takes whatever the "
        "load (with more, threads waiting for each other count too).",
        "",
        f"Photos: {photos}. Paintings: {paintings}. Each run is one `instant()` call with "
        "default settings at the size given (longest side): resize, the painting's embedding "
        "(central square at 256 px), the transformer at the output's size, back to a PIL image.",
        "",
        f"Loading the networks (read and dequantise both ONNX files): {load_s:.2f} s. "
        f"First call after loading (512 px, {first_threads} threads): {first_s:.2f} s.",
        "",
        "| threads | size (px) | runs | best (s) | median (s) | CPU s (median) | CPU use "
        "| predictor alone (s) | transformer alone (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['size']} | {r['runs']} | {r['best']:.3f} | {r['median']:.3f} "
            f"| {r['cpu']:.3f} | {r['use']:.2f} | {r['predictor']:.3f} | {r['transformer']:.3f} |"
        )
    lines += [
        "",
        "'Predictor alone' is the style embedding of a 256 x 256 painting; 'transformer alone' "
        "paints a 4:3 image of that size (best runs).",
    ]
    measured = {t: o for t, o in ort.items() if o is not None}
    if measured:
        lines += [
            "",
            "Beside onnxruntime, both at the ONNX graphs' fixed sizes (content 384 x 384, style "
            "256 x 256; predictor + transformer; onnxruntime runs the shipped int8 graph, the "
            "port runs float32 at any size):",
            "",
            "| threads | | load (s) | first call at 384 (s) | best (s) | median (s) |",
            "|---|---|---|---|---|---|",
        ]
        for t, o in measured.items():
            lines += [
                f"| {t} | onnxruntime | {o['ort_load']:.2f} | {o['ort_first']:.3f} "
                f"| {o['ort_best']:.3f} | {o['ort_median']:.3f} |",
                f"| {t} | restyle (torch) | {load_s:.2f} | {o['port_first']:.3f} "
                f"| {o['port_best']:.3f} | {o['port_median']:.3f} |",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
