"""``restyle train STYLE -o model.pt``: train a per-style feed-forward network (Johnson et al.
2016) with restyle's own objective; then ``restyle apply model.pt photos/ -o out/``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any

from ..errors import RestyleError
from ..optim.progress import clock
from .common import EXIT_INTERRUPTED, EXIT_OK, Parser, _csv, settings_from_args


def _options_defaults() -> Any:
    from ..tasks.train import TrainOptions

    return TrainOptions()


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``restyle train``."""
    d = _options_defaults()
    p = Parser(
        prog="restyle train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a network that paints any photo in one painting's style in a "
        "fraction of a second (Johnson et al. 2016, instance normalisation), with the same "
        "objective as the optimisation. Without --photos it trains on the sample photos that "
        "ship with scikit-image, scikit-learn and matplotlib.",
        epilog="examples:\n"
        "  restyle train starry-night -o starry.pt\n"
        "  restyle train my_painting.jpg --photos ~/Pictures -o mine.pt --steps 3000\n"
        "  restyle train starry-night -o starry.pt --resume     # go on after Ctrl-C\n"
        "  restyle apply starry.pt photo.jpg -o out.jpg",
    )
    p.add_argument("style", metavar="STYLE", help="a painting file or a built-in painting's name")
    p.add_argument("-o", "--output", required=True, help="the model file (also the checkpoint)")
    p.add_argument("--photos", metavar="DIR", help="a folder of training photos")
    p.add_argument("--resume", action="store_true", help="go on from the model file's checkpoint")
    g = p.add_argument_group("training")
    g.add_argument("--size", type=int, help=f"training crop side in px (default {d.size})")
    g.add_argument("--batch-size", type=int, help=f"crops per step (default {d.batch_size})")
    g.add_argument("--steps", type=int, help=f"optimiser steps (default {d.steps})")
    g.add_argument("--lr", dest="learning_rate", type=float,
                   help=f"Adam step size (default {d.learning_rate:g})")  # fmt: skip
    g.add_argument(
        "--widths",
        type=_csv(int),
        help=f"the network's three widths (default {','.join(map(str, d.widths))})",
    )
    g.add_argument("--blocks", type=int, help=f"residual blocks (default {d.blocks})")
    g.add_argument(
        "--checkpoint-every",
        type=int,
        help=f"write the model file every N steps (default {d.checkpoint_every})",
    )
    g.add_argument("--seed", type=int, help=f"random seed (default {d.seed})")
    g = p.add_argument_group("objective (as for the optimisation)")
    g.add_argument("--content-weight", "--alpha", dest="content_weight", type=float)
    g.add_argument("--style-weight", "--beta", dest="style_weight", type=float)
    g.add_argument("--style-strength", type=float, help="multiplies beta (default 1)")
    g.add_argument("--style-scale", type=float, help="painting size relative to the crops")
    g.add_argument("--tv-weight", type=float, help="total variation (default 0)")
    g.add_argument("--weights", help="VGG19: bundled (default), torchvision, or a path")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    g.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str], stderr: IO[str]) -> int:
    """``restyle train``: see the module's docstring."""
    from ..media.image import load_image
    from ..media.paintings import resolve_style
    from ..tasks.apply import expand_photos
    from ..tasks.train import Trainer, TrainOptions, package_photos

    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    changes = {
        k: getattr(args, k)
        for k in ("size", "batch_size", "steps", "learning_rate", "blocks", "checkpoint_every",
                  "seed")
        if getattr(args, k) is not None
    }  # fmt: skip
    if args.widths is not None:
        if len(args.widths) != 3:
            raise RestyleError(f"--widths takes three numbers, got {len(args.widths)}")
        changes["widths"] = tuple(args.widths)
    options = TrainOptions(**changes)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise RestyleError(f"the folder {out.parent} of the model file does not exist")
    if out.is_dir():
        raise RestyleError(f"{out} is a folder; give a model file name such as model.pt")
    if out.exists() and not args.resume:
        raise RestyleError(f"{out} exists: add --resume to go on training it, or remove it")
    if args.resume and not out.exists():
        raise RestyleError(f"nothing to resume: {out} does not exist")
    style = resolve_style(args.style)
    if args.photos:
        photos = [load_image(f, role="training photo") for f in expand_photos([args.photos])]
    else:
        photos = package_photos()
    trainer = Trainer(
        style, photos, settings, options, out, style_name=Path(args.style).stem,
        resume=args.resume,
    )  # fmt: skip
    if not args.quiet:
        o = trainer.options
        print(
            f"restyle: training on {len(photos)} photos, {o.size} px crops x {o.batch_size}, "
            f"{o.steps} steps from step {trainer.step}",
            file=stderr,
        )
    bar: Any = None
    saved = trainer.step if args.resume else 0
    try:
        for p in trainer:
            saved = p.step if p.saved else saved
            if args.quiet:
                continue
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(
                    total=p.steps, initial=p.step - 1, file=stderr, unit="step",
                    bar_format="{percentage:3.0f}%|{bar:20}| {n}/{total} [{elapsed}] {postfix}",
                    dynamic_ncols=True,
                )  # fmt: skip
            bar.set_postfix_str(
                f"loss {p.losses['total']:.4g} (content {p.losses['content']:.3g}, style "
                f"{p.losses['style']:.3g}) | left {clock(p.eta)}",
                refresh=False,
            )
            bar.update(1)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        where = f"holds step {saved}" if out.exists() else "was not written yet"
        print(f"restyle: interrupted; {out} {where} (go on with --resume)", file=stderr)
        return EXIT_INTERRUPTED
    if bar is not None:
        bar.close()
    if not args.quiet:
        print(f"restyle: wrote {out}", file=stderr)
    return EXIT_OK
