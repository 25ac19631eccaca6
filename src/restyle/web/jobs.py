"""The web app's core, free of any web framework: input checks, jobs, cancel and the run loop.

Everything the page does to an image goes through here, so it is tested without a browser:

* :func:`load_upload` turns an uploaded file into an image or a one-line
  :class:`~restyle.errors.RestyleError` (size limit, pixel limit, not an image, corrupt).
* :func:`parse_settings` turns the numbers typed into the page into
  :class:`~restyle.config.Settings` within the web app's caps, or a one-line message.
* :class:`JobRegistry` hands out job ids; a job is cancelled through its id from another request.
* :class:`Runner` runs one job and yields :class:`Update` objects: a new preview every few steps,
  a progress fraction and time left, and at the end a PNG with the settings in its metadata. A
  cancelled run stops after the current step and keeps its latest image.

Running one job at a time per device is the web framework's queue's job (see
:mod:`restyle.web.app`). The runner never raises: any failure of a run becomes a final
``error`` update with a message for the page.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import secrets
import shutil
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal, Protocol

from PIL import Image

from ..config import COLOR_MODES, INIT_KINDS, Settings
from ..errors import OutOfMemory, RestyleError
from ..optim.progress import Progress, clock

#: Output size (longest side, px) the page accepts.
MIN_SIZE, MAX_SIZE = 64, 1024
#: Iterations the page accepts.
MIN_ITERATIONS, MAX_ITERATIONS = 1, 2000
#: Style strength the page accepts (multiplies beta).
MIN_STRENGTH, MAX_STRENGTH = 0.01, 100.0
#: Largest seed (fits a 32-bit signed integer).
MAX_SEED = 2**31 - 1
#: Largest upload in bytes (the framework enforces it too, before the file reaches Python).
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
#: Largest upload in pixels, read from the header before decoding (40 MP is 120 MB as RGB).
MAX_UPLOAD_PIXELS = 40_000_000
#: Longest side an input is kept at; outputs are at most :data:`MAX_SIZE`, so nothing is lost.
INPUT_SIDE = 2048
#: Most style images one run blends.
MAX_STYLES = 8

UpdateKind = Literal["waiting", "loading", "progress", "done", "cancelled", "error"]


class RunLike(Protocol):
    """What :class:`Runner` needs of a run: :class:`~restyle.tasks.stylize.StyleRun` has it."""

    settings: Settings

    def image(self) -> Image.Image:
        """The current image."""
        ...

    def __iter__(self) -> Iterator[Progress]:
        """Run, one :class:`~restyle.optim.progress.Progress` per step."""
        ...


#: Makes a run from the content image, the style images, the settings and the region masks
#: (one per style, or None for an ordinary run).
RunFactory = Callable[[Image.Image, list[Image.Image], Settings, list[Image.Image] | None], RunLike]


@dataclass(frozen=True)
class NamedImage:
    """An input image and the name it is shown and recorded under.

    Attributes:
        name: The uploaded file's name, or the name of a built-in example.
        image: 8-bit RGB, at most :data:`INPUT_SIDE` pixels on its longest side.
    """

    name: str
    image: Image.Image


# --------------------------------------------------------------------------------------------
# Uploads


def _megabytes(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def shrink(img: Image.Image, side: int = INPUT_SIDE) -> Image.Image:
    """``img`` scaled down (Lanczos) so that its longest side is at most ``side`` pixels.

    Args:
        img: Any PIL image.
        side: The longest side allowed.

    Returns:
        ``img`` itself when it is small enough, else a new image with the same aspect ratio.
    """
    longest = max(img.size)
    if longest <= side:
        return img
    f = side / longest
    size = (max(1, round(img.width * f)), max(1, round(img.height * f)))
    return img.resize(size, Image.Resampling.LANCZOS)


def load_upload(
    path: str | os.PathLike[str],
    role: str,
    *,
    name: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_UPLOAD_PIXELS,
) -> NamedImage:
    """Check and decode an uploaded file.

    Args:
        path: Where the web framework stored the upload.
        role: What it is for (``"content"``, ``"style"``), used in messages.
        name: The name the user knows the file by; defaults to the file name of ``path``.
        max_bytes: Largest file accepted.
        max_pixels: Largest width x height accepted, checked from the header before decoding.

    Returns:
        The decoded image (RGB, shrunk to :data:`INPUT_SIDE`) with its name.

    Raises:
        RestyleError: With a one-line message naming the file (never the server's path) when
            it is missing, too large, not an image, corrupt or truncated.
    """
    from ..media.image import load_image

    p = Path(path)
    shown = name or p.name
    noun = role if role.endswith("image") else f"{role} image"
    try:
        n_bytes = p.stat().st_size
    except OSError as e:
        raise RestyleError(f"{noun} {shown}: the upload could not be read ({e.strerror})") from e
    if n_bytes > max_bytes:
        raise RestyleError(
            f"{noun} {shown} is {_megabytes(n_bytes)}; the limit is {_megabytes(max_bytes)}"
        )
    w = h = 0
    with contextlib.suppress(Exception), warnings.catch_warnings():
        # The header only; a file Pillow cannot open is left to load_image's message.
        warnings.simplefilter("ignore")
        with Image.open(p) as im:
            w, h = im.size
    if w * h > max_pixels:
        raise RestyleError(
            f"{noun} {shown} has {w}x{h} pixels; the limit is {max_pixels / 1e6:g} megapixels"
        )
    try:
        img = load_image(p, role=role)
    except RestyleError as e:
        raise RestyleError(str(e).replace(str(p), shown)) from None
    return NamedImage(shown, shrink(img))


# --------------------------------------------------------------------------------------------
# Numbers from the page


def _number(name: str, value: object) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RestyleError(f"{name} is missing")
    if isinstance(value, bool):
        raise RestyleError(f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            raise RestyleError(f"{name} must be a number, got {value[:40]!r}") from None
    else:
        raise RestyleError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(x):
        raise RestyleError(f"{name} must be a finite number, got {value!r}")
    return x


def _whole(name: str, value: object, low: int, high: int) -> int:
    x = _number(name, value)
    if x != math.floor(x):
        raise RestyleError(f"{name} must be a whole number, got {x:g}")
    if not low <= x <= high:
        raise RestyleError(f"{name} must be between {low} and {high}, got {x:g}")
    return int(x)


def _choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise RestyleError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def parse_settings(
    *,
    size: object,
    iterations: object,
    style_strength: object,
    color: object,
    seed: object = 0,
    init: object = "auto",
    base: Settings | None = None,
) -> Settings:
    """Settings from the page's controls, within the web app's caps.

    Values may arrive as numbers or strings (the page is not trusted). Fields not on the page
    keep ``base``'s values, so the defaults still live in :class:`~restyle.config.Settings`.

    Args:
        size: Longest side of the output, :data:`MIN_SIZE`..:data:`MAX_SIZE`.
        iterations: Steps over all scales, :data:`MIN_ITERATIONS`..:data:`MAX_ITERATIONS`.
        style_strength: Multiplies beta, :data:`MIN_STRENGTH`..:data:`MAX_STRENGTH`.
        color: One of :data:`~restyle.config.COLOR_MODES`.
        seed: 0..:data:`MAX_SEED`.
        init: One of :data:`~restyle.config.INIT_KINDS` (an image path is not offered: the
            browser names no files).
        base: Settings for everything else (device, weights, ...); default ``Settings()``.

    Returns:
        Validated settings.

    Raises:
        RestyleError: With a one-line message for the first value that makes no sense.
    """
    s = _whole("output size", size, MIN_SIZE, MAX_SIZE)
    n = _whole("iterations", iterations, MIN_ITERATIONS, MAX_ITERATIONS)
    k = _number("style strength", style_strength)
    if not MIN_STRENGTH <= k <= MAX_STRENGTH:
        raise RestyleError(
            f"style strength must be between {MIN_STRENGTH:g} and {MAX_STRENGTH:g}, got {k:g}"
        )
    c = _choice("colour preservation", color, COLOR_MODES)
    seed_ = _whole("seed", seed, 0, MAX_SEED)
    i = _choice("start from", init, INIT_KINDS)
    return (base or Settings()).replace(
        size=s,
        width=None,
        height=None,
        iterations=n,
        style_strength=k,
        color=c,
        seed=seed_,
        init=i,
    )


# --------------------------------------------------------------------------------------------
# Jobs


class JobState(Enum):
    """Where a job is in its life."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


FINISHED = frozenset({JobState.DONE, JobState.CANCELLED, JobState.FAILED})


class Job:
    """One request to stylise: an id that the page keeps, and a cancel flag.

    Args:
        job_id: Unguessable id (so one visitor cannot cancel another's run).
    """

    def __init__(self, job_id: str) -> None:
        self.id = job_id
        self.state = JobState.WAITING
        self.created = time.monotonic()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop after its current step (or not to start at all)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()


class JobRegistry:
    """Thread-safe map from job id to :class:`Job`, bounded in size.

    Args:
        capacity: Most jobs kept; the oldest finished ones (then the oldest) are dropped first.
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def create(self) -> Job:
        """A new waiting job with a fresh id."""
        job = Job(secrets.token_urlsafe(12))
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.capacity:
                old = next((j for j in self._jobs.values() if j.state in FINISHED), None)
                self._jobs.pop(old.id if old else next(iter(self._jobs)))
        return job

    def get(self, job_id: object) -> Job | None:
        """The job with this id, or None (also for ids that are not strings)."""
        if not isinstance(job_id, str):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: object) -> bool:
        """Cancel a job that has not finished; True if there was one to cancel."""
        job = self.get(job_id)
        if job is None or job.state in FINISHED:
            return False
        job.cancel()
        return True

    def discard(self, job_id: object) -> None:
        """Forget a job (the page calls this once its run has ended)."""
        if isinstance(job_id, str):
            with self._lock:
                self._jobs.pop(job_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


# --------------------------------------------------------------------------------------------
# Running


def describe(p: Progress) -> str:
    """One line for the page: step, scale, size and time left."""
    parts = [f"Step {p.total_step} of {p.total_steps}"]
    if p.scales > 1:
        parts.append(f"scale {p.scale + 1} of {p.scales}")
    parts.append(f"{p.width}×{p.height} px")
    parts.append("finishing" if p.done else f"about {clock(p.eta)} left")
    return " · ".join(parts)


@dataclass(frozen=True)
class Update:
    """What the page should show after a step (or a change of state).

    Attributes:
        kind: ``waiting``, ``loading``, ``progress`` (more to come), or the final ``done``,
            ``cancelled`` or ``error``.
        message: One line for people.
        fraction: Share of the run done, 0 to 1.
        image: A new preview, or None when the preview has not changed.
        result: The PNG to download (final updates of runs that produced an image).
        progress: The optimiser's report behind this update, if any.
    """

    kind: UpdateKind
    message: str
    fraction: float = 0.0
    image: Image.Image | None = None
    result: Path | None = None
    progress: Progress | None = None

    @property
    def final(self) -> bool:
        """True for the last update of a run."""
        return self.kind in ("done", "cancelled", "error")


def _safe_stem(name: str) -> str:
    stem = Path(name).stem
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")
    return stem[:40] or "image"


def result_name(content: str, styles: Sequence[str]) -> str:
    """File name of a download: ``restyle-<content>-<first style>.png``, safe on any system."""
    first = styles[0] if styles else "style"
    return f"restyle-{_safe_stem(content)}-{_safe_stem(first)}.png"


class Runner:
    """Runs jobs and turns the optimiser's progress into :class:`Update` objects.

    Args:
        out_dir: Folder for the result PNGs (one sub-folder per job); created if missing.
        preview_every: A new preview at least every this many steps.
        preview_seconds: ... and whenever this long has passed since the last one (for slow
            steps, so that the picture never sits still for long).
        update_seconds: Progress-only updates at most this often.
        keep_results: Result folders kept; older ones are deleted.
        stylize: Factory of the run (for tests); default :func:`restyle.stylize_iter`.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        preview_every: int = 5,
        preview_seconds: float = 2.0,
        update_seconds: float = 0.2,
        keep_results: int = 50,
        stylize: RunFactory | None = None,
    ) -> None:
        if preview_every < 1:
            raise ValueError("preview_every must be at least 1")
        self.out_dir = Path(out_dir)
        self.preview_every = preview_every
        self.preview_seconds = preview_seconds
        self.update_seconds = update_seconds
        self.keep_results = keep_results
        self._stylize = stylize

    def _start(
        self,
        content: NamedImage,
        styles: Sequence[NamedImage],
        settings: Settings,
        masks: list[Image.Image] | None,
    ) -> RunLike:
        paintings = [s.image for s in styles]
        if self._stylize is not None:
            return self._stylize(content.image, paintings, settings, masks)
        from ..api import stylize_iter

        return stylize_iter(content.image, paintings, settings, masks=masks)

    def run(
        self,
        job: Job,
        content: NamedImage,
        styles: Sequence[NamedImage],
        settings: Settings,
        masks: list[Image.Image] | None = None,
    ) -> Iterator[Update]:
        """Run ``job`` and report as it goes; the last update is final (``update.final``).

        Args:
            job: The job (its cancel flag is checked between steps).
            content: The content photo.
            styles: One or more style images.
            settings: Validated settings (see :func:`parse_settings`).
            masks: Spatial control: one mask per style (see :mod:`restyle.web.regions`).

        Yields:
            Updates: ``loading`` first (with the starting image), then ``progress`` (a new
            ``image`` every few steps), then one of ``done``, ``cancelled`` or ``error``.
        """
        if job.cancelled:
            job.state = JobState.CANCELLED
            yield Update("cancelled", "Cancelled before it started.")
            return
        job.state = JobState.RUNNING
        yield Update("loading", "Preparing the network and the style targets…")
        last: Progress | None = None
        run: RunLike | None = None
        try:
            run = self._start(content, styles, settings, masks)
            yield Update(
                "loading", "Preparing the network and the style targets…", image=run.image()
            )
            steps = iter(run)
            last_preview_step, last_preview_t, last_update_t = 0, time.monotonic(), 0.0
            try:
                for p in steps:
                    last = p
                    if job.cancelled:
                        break
                    now = time.monotonic()
                    preview = (
                        p.done
                        or p.total_step - last_preview_step >= self.preview_every
                        or now - last_preview_t >= self.preview_seconds
                    )
                    frac = p.total_step / max(1, p.total_steps)
                    if preview:
                        last_preview_step, last_preview_t = p.total_step, now
                        yield Update("progress", describe(p), frac, run.image(), progress=p)
                        last_update_t = time.monotonic()
                    elif now - last_update_t >= self.update_seconds:
                        yield Update("progress", describe(p), frac, progress=p)
                        last_update_t = time.monotonic()
            finally:
                close = getattr(steps, "close", None)
                if close is not None:
                    close()
            image = run.image()
            used = run.settings
            stopped = job.cancelled and not (last is not None and last.done)
            path = self._save(job, image, used, content, styles, last, stopped)
        except (OutOfMemory, MemoryError):
            job.state = JobState.FAILED
            yield Update(
                "error", "out of memory; try a smaller output size", image=self._latest(run)
            )
            return
        except RestyleError as e:
            job.state = JobState.FAILED
            yield Update("error", str(e), image=self._latest(run))
            return
        except Exception as e:  # never let a run take the server down
            job.state = JobState.FAILED
            text = " ".join(str(e).split())[:300] or type(e).__name__
            yield Update("error", f"the run failed: {text}", image=self._latest(run))
            return
        done, total = (last.total_step, last.total_steps) if last else (0, settings.iterations)
        frac = done / max(1, total)
        if stopped:
            job.state = JobState.CANCELLED
            msg = f"Cancelled at step {done} of {total}; the latest image is kept."
            yield Update("cancelled", msg, frac, image, path, last)
        else:
            job.state = JobState.DONE
            took = clock(last.elapsed) if last else "0:00"
            yield Update("done", f"Done: {done} steps in {took}.", 1.0, image, path, last)

    @staticmethod
    def _latest(run: RunLike | None) -> Image.Image | None:
        if run is None:
            return None
        try:
            return run.image()
        except Exception:
            return None

    def _save(
        self,
        job: Job,
        image: Image.Image,
        settings: Settings,
        content: NamedImage,
        styles: Sequence[NamedImage],
        last: Progress | None,
        stopped: bool,
    ) -> Path:
        from ..media.image import save_image
        from ..media.metadata import output_metadata

        folder = self.out_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        names = [s.name for s in styles]
        meta = dict(output_metadata(settings, content.name, names))
        meta["restyle-run"] = json.dumps(
            {
                "steps_done": last.total_step if last else 0,
                "steps_planned": last.total_steps if last else settings.iterations,
                "cancelled": stopped,
            },
            sort_keys=True,
        )
        path = folder / result_name(content.name, names)
        save_image(image, path, metadata=meta)
        self._prune(keep=folder)
        return path

    def _prune(self, keep: Path) -> None:
        try:  # another thread may be pruning too
            folders = [f for f in self.out_dir.iterdir() if f.is_dir() and f != keep]
            folders.sort(key=lambda f: f.stat().st_mtime)
        except OSError:
            return
        for f in folders[: max(0, len(folders) - (self.keep_results - 1))]:
            shutil.rmtree(f, ignore_errors=True)


def escape(text: str) -> str:
    """HTML-escape text for the page."""
    return html.escape(text, quote=True)
