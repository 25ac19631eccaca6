"""``restyle batch``: many photos x many paintings into a folder, on this machine or a Ray cluster.

The rows are planned by :mod:`restyle.tasks.batch` and run there (or by
:mod:`restyle.tasks.ray_batch`); this module parses the command line, shows a progress bar over
rows, turns the first Ctrl-C into "stop after the images under way" and maps the outcome to an
exit status: 0 all written or already there, 1 some rows failed, 2 bad input, 130 stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import IO, Any

from ..errors import RestyleError
from ..net.cache import Builder, NetworkCache
from .common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Parser,
    add_settings_arguments,
    settings_from_args,
)

EXAMPLES = """\
examples:
  restyle batch photos/ -s starry-night the-scream -o out/          every photo x every painting
  restyle batch 'shots/*.jpg' -s paintings/ -o out/ --size 384 --format jpg
  restyle batch --manifest rows.csv -o out/                          one row per line
  restyle batch photos/ -s starry-night -o out/ --fast               the instant network
  restyle batch photos/ -s scream.pt -o out/ --model                 a model of restyle train
  restyle batch photos/ -s starry-night -o out/ --ray local --workers 2
  restyle batch photos/ -s starry-night -o out/ --ray auto           the cluster of `ray start`

outputs are OUTDIR/<photo>_<painting>.<format>; each stores its settings. A rerun skips the
rows whose output is there with the same settings; every row's outcome is appended to
OUTDIR/restyle-batch.jsonl. Manifest (CSV with a header, or JSON lines): content, style (several
separated by ';', or a JSON list 'styles'), optional output (relative to OUTDIR), and any
setting per row: size, strength, color, iterations, seed, style_blend, ..., and mode (optimize,
instant/fast, or model: the style is then a model file of restyle train). Relative paths are
taken from the manifest's folder.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``restyle batch``."""
    p = Parser(
        prog="restyle batch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Stylise many photos with many paintings into a folder; failed rows are "
        "reported and the others go on.",
        epilog=EXAMPLES,
    )
    p.add_argument(
        "photos", nargs="*", metavar="PHOTO", help="photo files, folders or globs ('*.jpg')"
    )
    p.add_argument(
        "-s",
        "--styles",
        nargs="+",
        action="extend",
        default=[],
        metavar="STYLE",
        help="paintings: files, folders, globs or built-in names (see restyle styles)",
    )
    p.add_argument("-o", "--outdir", required=True, help="output folder (created if missing)")
    p.add_argument("--manifest", metavar="FILE", help="rows from a CSV or JSON-lines file")
    p.add_argument(
        "--pairs",
        choices=("all", "zip"),
        default="all",
        help="all: every photo with every painting (default); zip: the i-th with the i-th",
    )
    p.add_argument(
        "--format",
        default="png",
        choices=("png", "jpg", "webp", "tif"),
        help="output file type (default png)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="the instant network (one forward pass, Ghiasi et al. 2017) instead of the "
        "optimisation; --style-strength is then from 0 to 1",
    )
    p.add_argument(
        "--model",
        action="store_true",
        help="the -s entries are model files written by restyle train (one forward pass "
        "each, as restyle apply); --style-strength is then from 0 to 1",
    )
    p.add_argument("--redo", action="store_true", help="run every row, even finished ones")
    p.add_argument("--dry-run", action="store_true", help="list the rows and outputs; run none")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("Ray (pip install 'restyle[ray]', see docs/scale.md)")
    g.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on Ray: local (start a cluster on this machine), auto (the cluster "
        "`ray start` joined), or HOST:PORT of a head node",
    )
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="actors (default: one per GPU, else one per CPU slot)",
    )
    g.add_argument(
        "--object-store-mb",
        type=int,
        metavar="MB",
        help="object store of a --ray local cluster (default 256)",
    )
    add_settings_arguments(p)
    return p


@contextlib.contextmanager
def _first_ctrl_c_stops(run: Any, err: IO[str]) -> Iterator[None]:
    """The first Ctrl-C asks ``run`` to stop after the rows under way; the second interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if run.stopping:
            raise KeyboardInterrupt
        run.stop()
        print(
            "\nrestyle: stopping after the image(s) under way (Ctrl-C again to stop now)",
            file=err,
        )

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def batch_command(
    argv: Sequence[str],
    stderr: IO[str],
    *,
    networks: NetworkCache | None = None,
    builder: Builder | None = None,
) -> int:
    """``restyle batch``; ``networks`` (local runs) and ``builder`` (Ray actors) let callers
    and tests choose the network."""
    from ..tasks.batch import (
        MODEL_SUFFIXES,
        BatchRun,
        LocalExecutor,
        expand_inputs,
        pair_rows,
        read_manifest,
    )

    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    suffix = "." + args.format
    if args.fast and args.model:
        raise RestyleError("give --fast or --model, not both")
    mode = "instant" if args.fast else "model" if args.model else "optimize"
    if args.manifest:
        if args.photos or args.styles:
            raise RestyleError("give either --manifest or photos and -s paintings, not both")
        rows = read_manifest(args.manifest, args.outdir, settings, suffix=suffix, mode=mode)
    else:
        if not args.photos or not args.styles:
            raise RestyleError("give photos and -s paintings (or --manifest FILE)")
        photos = expand_inputs(args.photos, role="photo")
        if mode == "model":
            styles = expand_inputs(args.styles, role="model", suffixes=MODEL_SUFFIXES)
        else:
            styles = expand_inputs(args.styles, role="painting", names=True)
        rows = pair_rows(
            photos, styles, args.outdir, settings, pairs=args.pairs, suffix=suffix, mode=mode
        )
    if args.dry_run:
        for r in rows:
            print(f"{r.label} -> {r.error or r.output}", file=sys.stdout)
        return EXIT_OK
    if args.ray is None and (args.workers is not None or args.object_store_mb is not None):
        raise RestyleError("--workers and --object-store-mb need --ray")
    if args.ray is not None:
        from ..tasks.ray_batch import RayExecutor

        executor: Any = RayExecutor(
            args.ray, workers=args.workers, object_store_mb=args.object_store_mb, builder=builder
        )
    else:
        executor = LocalExecutor(networks)
    run = BatchRun(rows, args.outdir, executor, redo=args.redo)
    bar: Any = None
    try:
        with _first_ctrl_c_stops(run, stderr):
            for p in run:
                if bar is None and not args.quiet:
                    from tqdm import tqdm

                    bar = tqdm(
                        total=p.total,
                        file=stderr,
                        unit="img",
                        dynamic_ncols=True,
                        bar_format="{percentage:3.0f}%|{bar:20}| {n}/{total} [{elapsed}<"
                        "{remaining}] {postfix}",
                    )
                if p.status == "failed":
                    line = f"restyle: failed: {p.row.label}: {p.error}"
                    if bar is not None:
                        bar.write(line, file=stderr)
                    elif not args.quiet:
                        print(line, file=stderr)
                if bar is not None:
                    bar.set_postfix_str(f"{p.failed} failed" if p.failed else "", refresh=False)
                    bar.update(1)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        s = run.summary
        kept = f"; {s.done} written, kept" if s is not None else ""
        print(f"restyle: interrupted{kept}; run the same command again to do the rest", file=stderr)
        return EXIT_INTERRUPTED
    if bar is not None:
        bar.close()
    summary = run.summary
    assert summary is not None
    line = f"restyle: batch: {summary.line()}"
    if summary.interrupted:
        print(f"{line}; run the same command again to do the rest", file=stderr)
        return EXIT_INTERRUPTED
    if summary.failed:
        print(f"{line}; see {run.report_path}", file=stderr)
        return EXIT_FAILURE
    if not args.quiet:
        print(line, file=stderr)
    return EXIT_OK


def main(argv: Sequence[str], stderr: IO[str]) -> int:
    """Entry point of ``restyle batch`` (see :data:`restyle.cli.COMMANDS`)."""
    return batch_command(argv, stderr)
