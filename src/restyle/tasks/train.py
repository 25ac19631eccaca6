"""Train a per-style transformer (Johnson et al. 2016) with restyle's own objective.

The network (:class:`restyle.net.transformer.TransformerNet`) learns to paint any photo in one
forward pass. It is trained on random crops of photos (random rescaling, crop position and
horizontal flip) to minimise exactly the objective the optimisation uses: the content term on
the crop's own VGG19 features and the Gram style term against the painting, through the same
cached network (:mod:`restyle.net.cache`) and the same terms and evaluator
(:mod:`restyle.objective`), with alpha scaled to the crop's size by ``reference_pixels`` and
the style layers evened out by ``style_balance`` as in :class:`restyle.tasks.stylize.StyleRun`.

When no photos are given, the photos that ship inside packages restyle installs anyway are
used: scikit-image's sample photos, scikit-learn's two sample images and matplotlib's
``grace_hopper.jpg`` (found as files; none of those packages' code is imported).

The model file (:func:`save_model`, :func:`load_model`) holds plain tensors and one JSON
string: ``torch.save`` of a dict, read back with ``torch.load(weights_only=True)``, which never
runs code from the file. It is also the checkpoint: while training, the same file carries the
optimiser's state and the step reached, so ``resume=True`` goes on from it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import math
import os
import pickle
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image

from ..config import STYLE_LAYER_REFERENCE, Settings, deepest
from ..device import configure_backends, resolve_device
from ..errors import RestyleError
from ..media.image import load_image, resize, to_tensor, write_atomically
from ..net.cache import NetworkCache, NetworkSpec, default_cache
from ..net.transformer import MIN_SIDE, TransformerConfig, TransformerNet
from ..net.vgg import VGGFeatures
from ..objective.balance import balanced_layer_weights, layer_losses
from ..objective.evaluate import evaluate, features_and_grams
from ..objective.terms import ContentTerm, GramStyleTerm, Term, TVTerm
from ..optim.schedule import style_size

__all__ = [
    "FORMAT",
    "PACKAGE_PHOTOS",
    "LoadedModel",
    "TrainOptions",
    "TrainProgress",
    "Trainer",
    "load_model",
    "package_photos",
    "photo_files",
    "save_model",
]

#: The ``format`` entry of a restyle model file, and its version.
FORMAT = "restyle-transformer"
VERSION = 1

#: Photos inside packages restyle installs anyway: (package, folder in it, file names).
#: Colour photos only (the greyscale, binary and microscope samples would teach little).
PACKAGE_PHOTOS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "skimage",
        "data",
        (
            "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
            "hubble_deep_field.jpg", "camera.png", "brick.png", "gravel.png", "grass.png",
        ),
    ),
    ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
)  # fmt: skip

#: Photos are kept in memory with their longest side at most this many times the crop size.
_KEEP_FACTOR = 2.5


@dataclass(frozen=True)
class TrainOptions:
    """How a transformer is trained (the objective's settings are a :class:`Settings`).

    Attributes:
        size: Side of the square training crops in pixels.
        batch_size: Crops per step.
        steps: Optimiser steps in all.
        learning_rate: Adam's step size. 5e-4: with 1e-3 (Johnson et al.'s, for batches of 4)
            the default run on The Starry Night diverged just after the warm-up on the
            project's CPU (the style loss went from 1.6 to 12 in ten steps, and stayed).
        warmup: Steps over which the step size grows linearly to ``learning_rate`` (Adam's
            first steps move every weight by the full step size at once, which otherwise
            throws the untrained network's output far off). After it the step size falls
            along a half cosine to 0 at ``steps``: at a constant 5e-4 the measured default
            run still had spikes, and one in its last ten steps left the final model with a
            violet cast that its step-800 checkpoint did not have.
        widths: The transformer's widths (see :class:`TransformerConfig`).
        blocks: Its residual blocks.
        checkpoint_every: Write the model file every this many steps (and at the end).
        seed: Seeds the weights' initialisation and the crops (a resumed run draws the same
            crops it would have drawn).
    """

    size: int = 256
    batch_size: int = 2
    steps: int = 1000
    learning_rate: float = 5e-4
    warmup: int = 100
    widths: tuple[int, int, int] = (16, 32, 64)
    blocks: int = 5
    checkpoint_every: int = 50
    seed: int = 0

    def rate_factor(self, step: int) -> float:
        """The step size at ``step`` (0-based) as a fraction of ``learning_rate``: a linear
        warm-up over ``warmup`` steps, then a half cosine down to 0 at ``steps``."""
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, self.steps) / self.steps))

    def __post_init__(self) -> None:
        for name in ("size", "batch_size", "steps", "checkpoint_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise RestyleError(f"{name} must be a whole number of at least 1, got {v!r}")
        if not MIN_SIDE <= self.size <= 2048:
            raise RestyleError(f"size must be from {MIN_SIDE} to 2048 px, got {self.size}")
        lr = self.learning_rate
        if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise RestyleError(f"learning_rate must be a number above 0, got {lr!r}")
        if not isinstance(self.warmup, int) or isinstance(self.warmup, bool) or self.warmup < 0:
            raise RestyleError(f"warmup must be a whole number of 0 or more, got {self.warmup!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise RestyleError(f"seed must be a whole number of 0 or more, got {self.seed!r}")
        try:
            self.config()
        except ValueError as e:
            raise RestyleError(str(e)) from e

    def config(self) -> TransformerConfig:
        """The network's shape."""
        return TransformerConfig(widths=tuple(self.widths), blocks=self.blocks)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        return d


@dataclass(frozen=True)
class TrainProgress:
    """One training step, for a progress bar or a log.

    Attributes:
        step: Steps done (1-based).
        steps: Steps in all.
        losses: This step's objective per crop: ``total``, ``content``, ``style`` (and ``tv``).
        elapsed: Seconds spent in this session's steps.
        eta: Estimated seconds left.
        saved: Whether the model file was written after this step.
    """

    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    eta: float
    saved: bool = False

    @property
    def done(self) -> bool:
        """Whether this was the last step."""
        return self.step >= self.steps


# --------------------------------------------------------------------------------------------
# Training photos


def photo_files() -> list[Path]:
    """The sample photos inside installed packages (see :data:`PACKAGE_PHOTOS`).

    The packages are located with :func:`importlib.util.find_spec`, which runs none of their
    code; packages that are not installed are skipped.
    """
    out: list[Path] = []
    for package, folder, names in PACKAGE_PHOTOS:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for name in names:
                path = Path(root) / folder / name
                if path.is_file():
                    out.append(path)
    return out


def package_photos() -> list[Image.Image]:
    """The images of :func:`photo_files`, decoded (RGB).

    Raises:
        RestyleError: If none is found.
    """
    files = photo_files()
    if not files:
        raise RestyleError(
            "no training photos: give a folder with --photos (the sample photos of "
            "scikit-image, scikit-learn and matplotlib were not found)"
        )
    return [load_image(f, role="training photo") for f in files]


def _keep(img: Image.Image, size: int) -> torch.Tensor:
    """A photo as a tensor, made smaller if it is much larger than the crops need."""
    longest = max(img.width, img.height)
    limit = round(size * _KEEP_FACTOR)
    if longest > limit:
        f = limit / longest
        img = resize(img, max(1, round(img.width * f)), max(1, round(img.height * f)))
    return to_tensor(img)


def random_crops(
    photos: Sequence[torch.Tensor], size: int, count: int, generator: torch.Generator
) -> torch.Tensor:
    """``count`` random square crops ``(count, 3, size, size)`` of ``photos`` (each (1, 3, H, W)).

    Each crop takes a random photo, a random side between the photo's shorter side and
    ``size`` (or the reverse, for photos smaller than the crop), a random position and, half
    the time, a horizontal flip, and is resized (antialiased) to ``size``.
    """
    out = []
    for _ in range(count):
        i = int(torch.randint(len(photos), (1,), generator=generator))
        p = photos[i]
        h, w = p.shape[2], p.shape[3]
        short = min(h, w)
        lo, hi = sorted((min(size, short), short))
        u = float(torch.rand((), generator=generator))
        side = max(1, round(lo + u * (hi - lo)))
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        crop = p[:, :, top : top + side, left : left + side]
        if side != size:
            crop = F.interpolate(
                crop, size=(size, size), mode="bilinear", align_corners=False,
                antialias=side > size,
            )  # fmt: skip
        if float(torch.rand((), generator=generator)) < 0.5:
            crop = crop.flip(3)
        out.append(crop)
    return torch.cat(out).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# The model file


@dataclass
class LoadedModel:
    """A model read from a file.

    Attributes:
        net: The transformer (eval mode, on the CPU).
        info: What the file says about it: ``style`` (the painting's name), ``settings`` (the
            objective's), ``options`` (training), ``step``, ``losses`` (the total per step)
            and ``seconds`` (of training, over every resumed run).
        state: The training state (``optimizer``, ``balance``) if the file is a checkpoint of
            an unfinished or resumable run, else empty.
    """

    net: TransformerNet
    info: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


def save_model(
    path: str | os.PathLike[str],
    net: TransformerNet,
    info: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> None:
    """Write a model file atomically: its weights, ``info`` as JSON, and training ``state``.

    Args:
        path: The file to write (a temporary file beside it is renamed over it).
        net: The transformer.
        info: JSON-able facts about the model (style, settings, options, step, losses).
        state: Tensors and plain values to resume training from (the optimiser's state).

    Raises:
        RestyleError: If the file cannot be written.
    """
    target = Path(path)
    meta = {**info, "format": FORMAT, "version": VERSION, "config": net.config.to_dict()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "info": json.dumps(meta, sort_keys=True),
        "weights": {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
    }
    if state:
        payload["state"] = state
    try:
        write_atomically(target, str(target), lambda fh: torch.save(payload, fh))
    except OSError as e:
        raise RestyleError(f"cannot write the model file {target}: {e.strerror}") from e


def _not_a_model(path: Path, why: str) -> RestyleError:
    return RestyleError(f"{path} is not a restyle model file ({why})")


def load_model(path: str | os.PathLike[str], *, data: bytes | None = None) -> LoadedModel:
    """Read a model file written by :func:`save_model`.

    Only tensors and plain values are read (``torch.load(weights_only=True)``): nothing in the
    file is ever run.

    Args:
        path: the model file (with ``data``: only the name its messages give).
        data: the file's bytes, when they were read elsewhere (a batch row on a Ray worker).

    Raises:
        RestyleError: In one line, if the file is missing, truncated, not a restyle model (a
            foreign PyTorch file, or anything else), holds pickled Python objects, or its
            weights do not fit the network it describes.
    """
    p = Path(path)
    if data is None and not p.exists():
        raise RestyleError(f"model file {p} does not exist")
    if data is None and not p.is_file():
        raise RestyleError(f"model file {p} is not a file")
    try:
        with warnings.catch_warnings():  # e.g. about a foreign pickle protocol: the error says it
            warnings.simplefilter("ignore")
            source: Any = p if data is None else io.BytesIO(data)
            stored = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "global" in str(e).lower():
            raise _not_a_model(p, "it holds Python objects, which restyle never loads") from e
        raise _not_a_model(p, "unreadable or truncated") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as e:
        raise _not_a_model(p, "unreadable or truncated") from e
    except Exception as e:  # anything else torch.load can raise on arbitrary bytes
        raise _not_a_model(p, f"unreadable: {type(e).__name__}") from e
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise _not_a_model(p, "a file of another kind")
    try:
        info = json.loads(stored["info"])
        config = TransformerConfig.from_dict(info["config"])
        weights = stored["weights"]
        if not isinstance(weights, dict):
            raise ValueError("no weights")
        net = TransformerNet(config)
        net.load_state_dict(weights, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RestyleError(f"{p}: damaged restyle model file ({detail[:200]})") from e
    state = stored.get("state")
    return LoadedModel(net.eval(), info, state if isinstance(state, dict) else {})


# --------------------------------------------------------------------------------------------
# Training


def _settings_from_dict(d: dict[str, Any]) -> Settings:
    """Settings as a model file stores them (lists back to tuples; unknown names dropped)."""
    names = {f.name for f in dataclasses.fields(Settings)} - {"extra"}
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names
    }
    return Settings(**values)


class Trainer:
    """Train a transformer for one painting; iterate over it for :class:`TrainProgress`.

    Args:
        style: The painting (RGB).
        photos: Training photos (RGB); at least one, each at least 16 px on a side.
        settings: The objective (layers, alpha, beta, style strength and balance, style scale,
            TV weight, VGG weights, pooling, device and precision); ``color`` must be ``none``.
        options: Training options.
        output: The model file, written every ``options.checkpoint_every`` steps and at the
            end (atomically: an interrupted write leaves the previous checkpoint).
        style_name: What the model file calls the painting.
        resume: Go on from ``output``'s checkpoint (its options and settings win, except a
            larger ``options.steps``).
        networks: Where the VGG19 is built and kept (default: the process's shared cache).

    Raises:
        RestyleError: For bad settings, no photos, or a checkpoint that cannot be resumed.
    """

    def __init__(
        self,
        style: Image.Image,
        photos: Sequence[Image.Image],
        settings: Settings,
        options: TrainOptions,
        output: str | os.PathLike[str],
        *,
        style_name: str = "",
        resume: bool = False,
        networks: NetworkCache | None = None,
    ) -> None:
        if not photos:
            raise RestyleError("no training photos")
        if settings.color != "none":
            raise RestyleError("training supports color=none only")
        self.output = Path(output)
        self.step = 0
        self.history: list[float] = []
        #: Training seconds of the runs this one resumes (the model file records the sum).
        self.earlier_seconds = 0.0
        loaded: LoadedModel | None = None
        if resume:
            loaded = load_model(self.output)
            if not loaded.state:
                raise RestyleError(f"{self.output} has no training state to resume from")
            stored = dict(loaded.info.get("options", {}))
            stored["widths"] = tuple(stored.get("widths", options.widths))
            stored["steps"] = max(int(stored.get("steps", 0)), options.steps)
            try:
                options = TrainOptions(**stored)
                settings = _settings_from_dict(loaded.info.get("settings", {})).replace(
                    device=settings.device
                )
            except (TypeError, RestyleError) as e:
                raise RestyleError(f"{self.output}: cannot resume ({e})") from e
            self.step = int(loaded.info.get("step", 0))
            self.history = [float(x) for x in loaded.info.get("losses", [])]
            self.earlier_seconds = float(loaded.info.get("seconds", 0.0))
            style_name = str(loaded.info.get("style", style_name))
        self.settings = settings
        self.options = options
        self.style_name = style_name
        self.device = resolve_device(settings.device)
        configure_backends(self.device)
        torch.manual_seed(options.seed)
        self.net = TransformerNet(options.config()).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=options.learning_rate)
        saved_weights: dict[str, float] | None = None
        if loaded is not None:
            self.net.load_state_dict(loaded.net.state_dict())
            self.optimizer.load_state_dict(loaded.state["optimizer"])
            if isinstance(loaded.state.get("layer_weights"), dict):
                saved_weights = {k: float(v) for k, v in loaded.state["layer_weights"].items()}
        self.photos = [_keep(p, options.size) for p in photos]
        if any(min(p.shape[2], p.shape[3]) < MIN_SIDE for p in self.photos):
            raise RestyleError(f"training photos must be at least {MIN_SIDE} px on each side")
        self.networks = networks or default_cache()
        self.spec = NetworkSpec.of(settings, self.device)
        layers = [*settings.content_layers, *settings.style_layers]
        self.vgg: VGGFeatures = self.networks.network(self.spec, deepest(layers))
        s = options.size
        sw, sh = style_size(style.width, style.height, s, s, settings.style_scale)
        painting = to_tensor(resize(style, sw, sh)).to(self.device)
        self.style_grams = features_and_grams(
            self.vgg, painting, (), settings.style_layers, settings.tile_pixels
        )[1]
        n = len(settings.style_layers)
        layer_w = settings.style_layer_weights or (1.0 / max(1, n),) * n
        self.layer_weights = dict(zip(settings.style_layers, layer_w, strict=True))
        reference = settings.reference_pixels or s * s
        self.alpha = settings.alpha * reference / (s * s)
        # Settings.style_balance: each style layer evened out as the optimisation does it on its
        # photo, with E0 measured on a few crops (kept in checkpoints, so a resumed run goes on
        # with the same objective).
        if saved_weights is not None:
            self.layer_weights = saved_weights
        elif settings.style_balance and settings.beta:
            self.layer_weights = self._balanced_weights()
        self.seconds = 0.0

    def _batch(self, step: int, count: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.options.seed * 1_000_003 + step)
        return random_crops(self.photos, self.options.size, count, gen).to(self.device)

    def _balanced_weights(self) -> dict[str, float]:
        """:attr:`Settings.style_balance` for training: each layer's E0 is the mean over a few
        crops of their style loss to the painting (:mod:`restyle.objective.balance`)."""
        crops = self._batch(-1, 4)
        with torch.no_grad():
            grams = features_and_grams(self.vgg, crops, (), self.settings.style_layers)[1]
        start = layer_losses(grams, self.style_grams, self.layer_weights)
        return balanced_layer_weights(
            self.layer_weights, start, STYLE_LAYER_REFERENCE, self.settings.style_balance
        )

    def terms(self, crops: torch.Tensor) -> list[Term]:
        """The objective for a batch of crops: content (their own features), style, TV."""
        s = self.settings
        feats: dict[str, torch.Tensor] = {}
        if s.content_layers and self.alpha > 0:
            feats = features_and_grams(self.vgg, crops, s.content_layers, ())[0]
        return [
            ContentTerm(feats, self.alpha),
            GramStyleTerm(self.style_grams, self.layer_weights, s.beta),
            TVTerm(s.tv_weight),
        ]

    def info(self) -> dict[str, Any]:
        """What the model file records."""
        from .. import __version__

        return {
            "kind": "transformer",
            "restyle": __version__,
            "style": self.style_name,
            "settings": self.settings.to_dict(),
            "options": self.options.to_dict(),
            "step": self.step,
            "losses": [round(x, 6) for x in self.history],
            "seconds": round(self.earlier_seconds + self.seconds, 1),
            "layer_weights": self.layer_weights,
        }

    def save(self) -> None:
        """Write the model file (with the training state) now."""
        state = {"optimizer": self.optimizer.state_dict(), "layer_weights": self.layer_weights}
        save_model(self.output, self.net, self.info(), state)

    def train_step(self) -> dict[str, float]:
        """One optimiser step on a fresh batch; returns the losses per crop."""
        crops = self._batch(self.step, self.options.batch_size)
        self.net.train()
        o = self.options
        lr = o.learning_rate * o.rate_factor(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        out = self.net(crops)
        report, backward = evaluate(self.vgg, self.terms(crops), out)
        n = crops.shape[0]
        backward(1.0 / n)
        self.optimizer.step()
        losses = {k: v / n for k, v in report.items()}
        if not all(math.isfinite(v) for v in losses.values()):
            raise RestyleError("the loss became NaN or infinite; try a smaller learning rate")
        return losses

    def __iter__(self) -> Iterator[TrainProgress]:
        steps, every = self.options.steps, self.options.checkpoint_every
        done_here = 0
        while self.step < steps:
            began = time.perf_counter()
            losses = self.train_step()
            self.step += 1
            done_here += 1
            self.history.append(losses["total"])
            saved = self.step % every == 0 or self.step == steps
            if saved:
                self.save()
            self.seconds += time.perf_counter() - began
            eta = self.seconds / done_here * (steps - self.step)
            yield TrainProgress(self.step, steps, losses, self.seconds, eta, saved)
        self.net.eval()
