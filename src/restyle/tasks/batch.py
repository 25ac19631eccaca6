"""Many photos and paintings in one go: rows planned, run, written once, and reported.

A batch is a list of :class:`Row` s, each a photo, one or more paintings, an output file and the
row's settings. Rows come from inputs crossed with each other (:func:`pair_rows`: files, folders,
globs and built-in painting names) or from a manifest (:func:`read_manifest`: CSV or JSON lines,
with per-row settings such as ``size``, ``strength`` or ``color``).

:class:`BatchRun` runs them through an executor and yields :class:`BatchProgress` as data (this
module never prints). Whatever happens, nothing finished is lost:

* a row whose output already exists with the same settings, inputs and mode (read back from
  the file's metadata) is skipped, so a rerun of the same command does only what is missing;
* outputs are written by this process only, atomically (:func:`~restyle.media.image.save_image`),
  and never twice in one run;
* a row that fails (a missing or corrupt file, a nonsense setting, out of memory, a NaN loss,
  a worker that died too often) is recorded with its one-line error and the others go on;
* :meth:`BatchRun.stop` ends the batch after the rows under way;
* every outcome is appended to ``OUTDIR/restyle-batch.jsonl`` as it happens.

Executors: :class:`LocalExecutor` runs the rows one after the other in this process with one
:class:`~restyle.net.cache.NetworkCache` (the network is built once, each painting's targets are
computed once per size); :class:`restyle.tasks.ray_batch.RayExecutor` spreads them over the
actors of a Ray cluster. Both call :func:`execute_row`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import glob
import hashlib
import io
import json
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from PIL import Image, UnidentifiedImageError

from ..config import Settings
from ..device import out_of_memory
from ..errors import OutOfMemory, RestyleError
from ..media.image import (
    IMAGE_SUFFIXES,
    SAVE_FORMATS,
    check_output_path,
    load_image,
    read_metadata,
    save_image,
)
from ..media.metadata import output_metadata
from ..media.paintings import find_painting, resolve_style
from ..memory import release_free_memory
from ..net.cache import NetworkCache, default_cache
from ..optim.progress import Progress, clock
from .apply import Painter
from .instant import instant
from .stylize import StyleRun
from .train import load_model

__all__ = [
    "IMAGE_SUFFIXES",
    "MODES",
    "REPORT_NAME",
    "BatchProgress",
    "BatchRun",
    "BatchSummary",
    "Executor",
    "LocalExecutor",
    "Outcome",
    "Row",
    "Source",
    "encode_png",
    "execute_row",
    "expand_inputs",
    "output_name",
    "pair_rows",
    "read_manifest",
    "row_settings",
    "seconds_in_steps",
]

#: File name suffixes taken as model files (``restyle train``'s) when a folder is given.
MODEL_SUFFIXES: tuple[str, ...] = (".pt",)
#: The report every batch appends to, in its output folder.
REPORT_NAME = "restyle-batch.jsonl"
#: How a row is painted. ``"optimize"``: the paper's optimisation (:class:`StyleRun`);
#: ``"instant"``: one forward pass of the arbitrary-style network
#: (:func:`restyle.tasks.instant.instant`), whose strength (0 to 1) is the row's
#: ``style_strength``. A manifest may also say ``fast`` for ``instant``. ``"model"``: a model
#: file written by ``restyle train`` (:func:`restyle.tasks.train.load_model`) stands where the
#: painting would, and paints the photo in one forward pass (strength 0 to 1, as
#: ``restyle apply``).
MODES: tuple[str, ...] = ("optimize", "instant", "model")
#: Metadata key (beside ``restyle``) that records how a batch row was made.
BATCH_KEY = "restyle-batch"

Status = Literal["done", "skipped", "failed"]
#: An input as an executor hands it over: a path or built-in painting name, or a file's bytes.
Source = str | bytes

_GLOB_CHARS = frozenset("*?[")
_RESERVED_COLUMNS = ("content", "style", "styles", "output", "mode")
_ALIASES = {
    "strength": "style_strength",
    "colour": "color",
    "n": "iterations",
    "alpha": "content_weight",
    "beta": "style_weight",
}
_MAX_ERROR = 400


# --------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class Row:
    """One picture to make.

    Attributes:
        index: position in the batch (0-based).
        label: how messages name the row: ``"photo.jpg + starry-night"``, ``"line 4"``.
        content: the photo's path.
        styles: the paintings: paths or built-in names.
        output: where the result goes (None when the row could not be planned).
        settings: the row's settings (the batch's, with the row's own on top).
        mode: one of :data:`MODES`.
        error: why the row cannot run (a planning error), or None.
    """

    index: int
    label: str
    content: str
    styles: tuple[str, ...]
    output: Path | None
    settings: Settings = field(default_factory=Settings)
    mode: str = "optimize"
    error: str | None = None

    def signature(self) -> dict[str, Any]:
        """What decides the row's picture, as stored in (and read back from) its output."""
        return {
            "content": self.content,
            "styles": list(self.styles),
            "settings": json.loads(json.dumps(self.settings.to_dict())),
            "batch": self.batch_info(),
        }

    def batch_info(self) -> dict[str, str]:
        """How the row was made, beside its settings: the mode, and for a trained model a
        digest of the model file (a retrained model at the same path is a new input)."""
        info = {"mode": self.mode}
        if self.mode == "model" and len(self.styles) == 1:
            info["model"] = _file_digest(self.styles[0])
        return info

    def metadata(self) -> dict[str, str]:
        """The metadata written into the row's output."""
        meta = output_metadata(self.settings, self.content, self.styles)
        meta[BATCH_KEY] = json.dumps(self.batch_info(), sort_keys=True)
        return meta


def _file_digest(path: str) -> str:
    """The first 16 hex digits of a file's SHA-256 ("" if it cannot be read), read once per
    version of the file (its path, inode, size and modification time): every row of a batch
    asks for its model's digest when it is planned and when its output is written."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return _stored_digest(os.path.abspath(path), st.st_ino, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _stored_digest(path: str, inode: int, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()[:16]


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


def error_text(exc: BaseException) -> str:
    """An exception as one line for a report: the message of a :class:`RestyleError`, else the
    exception's type and message."""
    if isinstance(exc, RestyleError):
        return _one_line(str(exc))
    return _one_line(f"{type(exc).__name__}: {exc}")


def _is_glob(spec: str) -> bool:
    return any(c in _GLOB_CHARS for c in spec)


def _files_in(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    return sorted(
        str(p)
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def expand_inputs(
    specs: Iterable[str],
    *,
    role: str,
    names: bool = False,
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
) -> list[str]:
    """Files, folders (their images, sorted) and globs (sorted) to a list of inputs.

    Args:
        specs: what the user typed.
        role: ``"photo"``, ``"painting"`` or ``"model"``, for messages.
        suffixes: the files a folder contributes (default: images).
        names: accept built-in painting names (``starry-night``) too; a file of the same name
            wins.

    Returns:
        The inputs in the order given, each once.

    Raises:
        RestyleError: if a spec matches nothing (one line naming it).
    """
    found: list[str] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_file():
            items = [str(path)]
        elif path.is_dir():
            items = _files_in(path, suffixes)
            if not items:
                kind = "images" if suffixes == IMAGE_SUFFIXES else "files"
                raise RestyleError(f"no {role} {kind} in folder {spec}")
        elif _is_glob(spec):
            items = sorted(p for p in glob.glob(os.path.expanduser(spec)) if os.path.isfile(p))
            if not items:
                raise RestyleError(f"no {role} files match {spec}")
        elif names and find_painting(spec) is not None:
            items = [spec]
        else:
            hint = " nor a built-in painting (see restyle styles)" if names else ""
            raise RestyleError(f"{role} not found: {spec} (not a file, folder or glob{hint})")
        for item in items:
            if item not in found:
                found.append(item)
    return found


def _stem(source: str) -> str:
    painting = find_painting(source) if not os.path.isfile(source) else None
    name = painting.name if painting is not None else Path(source).stem
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".") or "image"


def _short_hash(*parts: str) -> str:
    h = hashlib.blake2b("\0".join(parts).encode(), digest_size=3)
    return h.hexdigest()


def output_name(content: str, styles: Sequence[str], suffix: str = ".png") -> str:
    """``photo.jpg`` + ``starry-night`` -> ``photo_starry-night.png`` (several paintings are
    joined with ``+``)."""
    return f"{_stem(content)}_{'+'.join(_stem(s) for s in styles)}{suffix}"


def _check_suffix(suffix: str) -> str:
    suffix = suffix if suffix.startswith(".") else "." + suffix
    if suffix.lower() not in SAVE_FORMATS:
        raise RestyleError(
            f"unsupported output format {suffix!r} (use one of {', '.join(sorted(SAVE_FORMATS))})"
        )
    return suffix.lower()


def _dedupe_names(rows: list[Row], named: frozenset[int] = frozenset()) -> list[Row]:
    """Rows whose outputs clash (``a/x.jpg`` and ``b/x.png``) get a short hash of their inputs
    added to the name, so every name stays the same from run to run. Rows in ``named`` (an
    output the user gave) keep theirs."""
    counts: dict[Path, int] = {}
    for r in rows:
        if r.output is not None:
            counts[r.output] = counts.get(r.output, 0) + 1
    out = []
    for r in rows:
        if r.output is not None and counts[r.output] > 1 and r.index not in named:
            h = _short_hash(r.content, *r.styles)
            r = dataclasses.replace(
                r, output=r.output.with_name(f"{r.output.stem}-{h}{r.output.suffix}")
            )
        out.append(r)
    return out


def pair_rows(
    photos: Sequence[str],
    paintings: Sequence[str],
    outdir: str | os.PathLike[str],
    settings: Settings,
    *,
    pairs: Literal["all", "zip"] = "all",
    suffix: str = ".png",
    mode: str = "optimize",
) -> list[Row]:
    """Rows from photos and paintings: every painting with every photo (``all``, painting by
    painting, so that each painting's targets are reused while they are cached), or the i-th
    photo with the i-th painting (``zip``).

    Outputs are ``OUTDIR/<photo>_<painting><suffix>`` (see :func:`output_name`).
    """
    suffix = _check_suffix(suffix)
    if mode not in MODES:
        raise RestyleError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not photos or not paintings:
        raise RestyleError("a batch needs at least one photo and one painting")
    if pairs == "zip":
        if len(photos) != len(paintings):
            raise RestyleError(
                f"--pairs zip needs as many paintings as photos, got {len(photos)} photos and "
                f"{len(paintings)} paintings"
            )
        combos = list(zip(photos, paintings, strict=True))
    elif pairs == "all":
        combos = [(p, s) for s in paintings for p in photos]
    else:
        raise RestyleError(f"pairs must be all or zip, got {pairs!r}")
    root = Path(outdir)
    rows = [
        Row(
            index=i,
            label=f"{p} + {s}",
            content=p,
            styles=(s,),
            output=root / output_name(p, (s,), suffix),
            settings=settings,
            mode=mode,
        )
        for i, (p, s) in enumerate(combos)
    ]
    return _dedupe_names(rows)


# --------------------------------------------------------------------------------------------
# Manifests


def _settings_fields() -> dict[str, str]:
    """Settings field name -> its annotation (text)."""
    return {f.name: str(f.type) for f in dataclasses.fields(Settings) if f.name != "extra"}


def _setting_value(name: str, kind: str, value: Any) -> Any:
    """A manifest cell (text from CSV, or a JSON value) as the field's type; None: not set."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    bad = RestyleError(f"{name} must be {_kind_word(kind)}, got {value!r}")
    if "tuple" in kind:
        items = value if isinstance(value, list) else str(value).replace(";", ",").split(",")
        items = [i.strip() if isinstance(i, str) else i for i in items]
        items = [i for i in items if i != ""]
        if "float" in kind:
            try:
                return tuple(float(i) for i in items)
            except (TypeError, ValueError):
                raise bad from None
        return tuple(str(i) for i in items)
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise bad
    if kind.startswith("int"):
        if isinstance(value, bool):
            raise bad
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if not number.is_integer():
            raise bad
        return int(number)
    if kind.startswith("float"):
        if isinstance(value, bool):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if not isinstance(value, str):
        raise bad
    return value.strip()


def _kind_word(kind: str) -> str:
    if "tuple" in kind:
        return "a list of numbers" if "float" in kind else "a list of names"
    for word, text in (("bool", "true or false"), ("int", "a whole number"), ("float", "a number")):
        if kind.startswith(word):
            return text
    return "text"


def row_settings(base: Settings, values: Mapping[str, Any]) -> Settings:
    """``base`` with a manifest row's settings on top (names as in :class:`Settings`, ``-`` or
    ``_``, or the aliases ``strength``, ``colour``, ``n``, ``alpha``, ``beta``).

    Raises:
        RestyleError: for an unknown name or a value that makes no sense (one line).
    """
    fields = _settings_fields()
    changes: dict[str, Any] = {}
    for raw, value in values.items():
        key = raw.strip().lower().replace("-", "_")
        key = _ALIASES.get(key, key)
        if key not in fields:
            raise RestyleError(f"unknown setting {raw!r}")
        parsed = _setting_value(key, fields[key], value)
        if parsed is not None:
            changes[key] = parsed
    return base.replace(**changes) if changes else base


def _styles_cell(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    if value is None:
        return ()
    return tuple(s.strip() for s in str(value).split(";") if s.strip())


def _relative(source: str, base: Path) -> str:
    """A manifest's path: relative ones are taken from the manifest's folder (a built-in
    painting's name stays a name unless such a file exists there)."""
    p = Path(source).expanduser()
    if p.is_absolute():
        return str(p)
    beside = base / p
    if beside.exists() or find_painting(source) is None:
        return str(beside)
    return source


def _manifest_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, the row's fields or why the line is unreadable) for each row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RestyleError(f"manifest not found: {path}") from None
    except IsADirectoryError:
        raise RestyleError(f"manifest is a folder, not a file: {path}") from None
    except PermissionError:
        raise RestyleError(f"manifest cannot be read (permission denied): {path}") from None
    except UnicodeDecodeError:
        raise RestyleError(f"manifest is not UTF-8 text: {path}") from None
    except OSError as e:
        raise RestyleError(f"manifest cannot be read: {path} ({e.strerror})") from None
    if not text.strip():
        raise RestyleError(f"manifest is empty: {path}")
    first = text.lstrip()[:1]
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first == "{":
        yield from _jsonl_records(text)
        return
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except csv.Error as e:
        raise RestyleError(f"manifest {path} is not CSV: {e}") from None
    columns = [h.strip() for h in header]
    if "content" not in columns:
        raise RestyleError(
            f"manifest {path} has no 'content' column (columns: {', '.join(columns) or 'none'})"
        )
    fields = _settings_fields()
    for c in columns:
        key = _ALIASES.get(c.lower().replace("-", "_"), c.lower().replace("-", "_"))
        if c and c not in _RESERVED_COLUMNS and key not in fields:
            raise RestyleError(f"manifest {path}: unknown column {c!r}")
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(columns):
                yield line, f"{len(cells)} cells for {len(columns)} columns"
                continue
            yield line, {c: v for c, v in zip(columns, cells, strict=False) if c}
    except csv.Error as e:
        raise RestyleError(
            f"manifest {path} is not valid CSV (line {reader.line_num}): {e}"
        ) from None


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield n, f"not valid JSON ({e.msg})"
            continue
        if not isinstance(value, dict):
            yield n, "not a JSON object"
            continue
        yield n, value


def read_manifest(
    path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    settings: Settings,
    *,
    suffix: str = ".png",
    mode: str = "optimize",
) -> list[Row]:
    """Rows from a manifest: CSV with a header, or JSON lines (one object per line).

    Each row has ``content`` (a path), ``style`` or ``styles`` (a path or built-in name; several
    separated by ``;`` in CSV, or a JSON list), optionally ``output`` (relative to ``outdir``;
    default as :func:`output_name`) and ``mode`` (one of :data:`MODES`, default ``mode``), and
    any settings (see :func:`row_settings`), which go on top of ``settings``. Relative input
    paths are taken from the manifest's folder.

    A row that makes no sense (no content, no style, an unknown setting or a bad value, an
    output another row has) is kept with its error, so that it is reported while the others
    run.

    Raises:
        RestyleError: if the manifest cannot be read at all (missing, not text, a CSV without
            a ``content`` column or with an unknown column).
    """
    suffix = _check_suffix(suffix)
    mpath = Path(path)
    base = mpath.parent
    root = Path(outdir)
    rows: list[Row] = []
    named: set[int] = set()
    for line, record in _manifest_records(mpath):
        index, label = len(rows), f"line {line}"
        if isinstance(record, str):
            rows.append(Row(index, label, "", (), None, settings, error=f"{label}: {record}"))
            continue
        rows.append(_manifest_row(index, label, record, base, root, settings, suffix, mode))
        if str(record.get("output") or "").strip():
            named.add(index)
    if not rows:
        raise RestyleError(f"manifest has no rows: {mpath}")
    seen: dict[Path, str] = {}
    out = []
    for r in _dedupe_names(rows, frozenset(named)):
        if r.output is not None and r.error is None:
            key = Path(os.path.abspath(r.output))
            if key in seen:
                r = dataclasses.replace(
                    r, error=f"{r.label}: output {r.output} is also the output of {seen[key]}"
                )
            else:
                seen[key] = r.label
        out.append(r)
    return out


def _manifest_row(
    index: int,
    label: str,
    record: Mapping[str, Any],
    base: Path,
    root: Path,
    settings: Settings,
    suffix: str,
    default_mode: str,
) -> Row:
    content = str(record.get("content") or "").strip()
    styles = _styles_cell(record.get("styles") or record.get("style"))
    mode = str(record.get("mode") or default_mode).strip().lower()
    mode = "instant" if mode == "fast" else mode
    error = None
    try:
        s = row_settings(settings, {k: v for k, v in record.items() if k not in _RESERVED_COLUMNS})
    except RestyleError as e:
        s, error = settings, f"{label}: {e}"
    if error is None and not content:
        error = f"{label}: no content photo"
    elif error is None and not styles:
        error = f"{label}: no style painting"
    elif error is None and mode not in MODES:
        error = f"{label}: mode must be one of {', '.join(MODES)}, got {mode!r}"
    content = _relative(content, base) if content else ""
    styles = tuple(_relative(st, base) for st in styles)
    out_cell = str(record.get("output") or "").strip()
    output: Path | None = None
    if out_cell:
        output = Path(out_cell).expanduser()
        output = output if output.is_absolute() else root / output
    elif content and styles:
        output = root / output_name(content, styles, suffix)
    show = f"{label} ({Path(content).name} + {', '.join(Path(s).name for s in styles)})"
    return Row(index, show if content else label, content, styles, output, s, mode, error)


# --------------------------------------------------------------------------------------------
# Running one row


@dataclass(frozen=True)
class Outcome:
    """What an executor hands back for a row.

    Attributes:
        row: the row.
        image: the picture, or None if the row failed.
        error: the one-line error, or None.
        seconds: wall time the worker spent on the row (loading, optimising, encoding).
        steps: optimisation steps taken.
        step_seconds: time in the optimisation's steps alone (see :func:`seconds_in_steps`).
        worker: where it ran (``host:pid``).
        attempts: how many times it was started (more than 1 when a worker died under it).
        optimise_seconds: time in the whole optimisation: the targets and the steps at every
            scale (for an instant row, the forward pass). The rest of ``seconds`` is loading
            the images and making the picture.
    """

    row: Row
    image: Image.Image | None
    error: str | None = None
    seconds: float = 0.0
    steps: int = 0
    step_seconds: float = 0.0
    worker: str = ""
    attempts: int = 1
    optimise_seconds: float = 0.0


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def seconds_in_steps(marks: Iterable[tuple[int, float]]) -> float:
    """Time in the optimisation's steps alone, from ``(scale, elapsed)`` per step.

    The first step of each scale also pays for that scale's set-up (the targets at that size,
    and L-BFGS's evaluation of the start point), so it is counted as the mean of the scale's
    other steps: an estimate that leaves the set-up out, and never more than the time in all
    (on a busy machine a later step can take longer than a first step with its set-up).
    """
    per_scale: dict[int, list[float]] = {}
    prev = 0.0
    for scale, elapsed in marks:
        per_scale.setdefault(scale, []).append(elapsed - prev)
        prev = elapsed
    total = 0.0
    for durations in per_scale.values():
        rest = durations[1:]
        total += (sum(rest) / len(rest)) * len(durations) if rest else durations[0]
    return min(total, prev)


def _decode(data: bytes, role: str, name: str) -> Image.Image:
    """A file's bytes, shipped to a worker, as an image (messages name the file)."""
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise RestyleError(f"{role} is not an image Pillow can read: {name}") from None
    except Image.DecompressionBombError as e:
        raise RestyleError(
            f"{role} is too large (decompression bomb guard): {name} ({e})"
        ) from None
    except Exception as e:  # worded as load_image words it for a file
        raise RestyleError(f"{role} is corrupt or truncated: {name} ({error_text(e)})") from None
    with im:
        im.filename = name  # type: ignore[attr-defined]  # named in load_image's messages
        return load_image(im, role=role)


def _load(source: Source, name: str, role: str, *, style: bool) -> Image.Image:
    if isinstance(source, bytes):
        return _decode(source, role, name)
    return resolve_style(source, role=role) if style else load_image(source, role=role)


def read_source(source: str, *, style: bool) -> Source:
    """What a worker elsewhere needs to load an input: the file's bytes, or a built-in
    painting's name as it is.

    Raises:
        RestyleError: if the file cannot be read (the message :func:`load_image` would give).
    """
    if style and not os.path.isfile(source) and find_painting(source) is not None:
        return source
    try:
        return Path(source).read_bytes()
    except (OSError, ValueError):
        role = "style image" if style else "content image"
        load_image(source, role=role)  # raises the usual one-line message
        raise RestyleError(f"{role} cannot be read: {source}") from None


def execute_row(
    row: Row,
    networks: NetworkCache,
    *,
    content: Source | None = None,
    styles: Sequence[Source] | None = None,
) -> Outcome:
    """Paint one row: load its images, run it, and return the picture or the error.

    Never raises for a row's own problems (bad file or setting, out of memory, a NaN loss):
    they become :attr:`Outcome.error`. ``KeyboardInterrupt`` passes.

    Args:
        row: the row.
        networks: where the network and the paintings' targets are kept between rows.
        content: the photo's bytes (a worker elsewhere); default: read ``row.content``.
        styles: the paintings' bytes or built-in names; default: ``row.styles``.
    """
    start = time.perf_counter()
    steps = 0
    marks: list[tuple[int, float]] = []
    try:
        if row.error is not None:
            raise RestyleError(row.error)
        many = len(row.styles) > 1
        photo = _load(
            row.content if content is None else content, row.content, "content image", style=False
        )
        if row.mode == "model":
            if many:
                raise RestyleError(f"a model row takes one model file, got {len(row.styles)}")
            source = row.styles[0] if styles is None else styles[0]
            began = time.perf_counter()
            image = _painter(source, row.styles[0], networks).paint(photo, row.settings)
            steps, marks = 1, [(0, time.perf_counter() - began)]
            return Outcome(
                row, image, None, time.perf_counter() - start, steps, seconds_in_steps(marks),
                worker_name(), optimise_seconds=marks[-1][1],
            )  # fmt: skip
        paintings = [
            _load(src, name, f"style image {i + 1}" if many else "style image", style=True)
            for i, (src, name) in enumerate(
                zip(row.styles if styles is None else styles, row.styles, strict=True)
            )
        ]
        if row.mode == "instant":
            began = time.perf_counter()
            image = instant(photo, paintings, row.settings, strength=row.settings.style_strength)
            steps, marks = 1, [(0, time.perf_counter() - began)]
        else:
            run = StyleRun(photo, paintings, row.settings, networks=networks)
            last: Progress | None = None
            for p in run:
                steps, last = p.total_step, p
                marks.append((p.scale, p.elapsed))
            if last is not None and not all(math.isfinite(v) for v in last.losses.values()):
                raise RestyleError("the loss became NaN or infinite; try smaller weights")
            image = run.image()
    except KeyboardInterrupt:
        raise
    except Exception as e:
        if out_of_memory(e) and not isinstance(e, OutOfMemory):
            e = OutOfMemory()
        if isinstance(e, OutOfMemory):
            release_free_memory()
        return Outcome(
            row, None, error_text(e), time.perf_counter() - start, steps,
            seconds_in_steps(marks), worker_name(),
            optimise_seconds=marks[-1][1] if marks else 0.0,
        )  # fmt: skip
    return Outcome(
        row, image, None, time.perf_counter() - start, steps, seconds_in_steps(marks),
        worker_name(), optimise_seconds=marks[-1][1] if marks else 0.0,
    )  # fmt: skip


def _painter(source: Source, name: str, networks: NetworkCache) -> Painter:
    """A trained model, read once per file content (the digest the rows record) and kept in
    ``networks`` beside the VGG networks."""
    data = source if isinstance(source, bytes) else None
    digest = hashlib.sha256(data).hexdigest()[:16] if data is not None else _file_digest(name)

    def load() -> Painter:
        model = load_model(name, data=data)
        return Painter(name, model.net, [], model.info)

    return networks.model(("model", digest or name), load)


def encode_png(image: Image.Image) -> bytes:
    """An image as PNG bytes (lossless; the form a worker returns its picture in)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Executors and the batch


class Executor(Protocol):
    """Runs rows and yields their outcomes (in any order, each row once)."""

    #: Shown in the report: ``local``, ``ray:local (2 workers)`` ...
    name: str

    def run(self, rows: Sequence[Row], stop: Callable[[], bool]) -> Iterator[Outcome]:
        """Run ``rows``; start no new row once ``stop()`` is true."""
        ...


class LocalExecutor:
    """Rows one after the other in this process, with one network cache for all of them.

    Args:
        networks: the cache (default: the process's shared one, see
            :func:`~restyle.net.cache.default_cache`).
    """

    name = "local"

    def __init__(self, networks: NetworkCache | None = None) -> None:
        self.networks = networks

    def run(self, rows: Sequence[Row], stop: Callable[[], bool]) -> Iterator[Outcome]:
        """Run ``rows`` in order; stop between rows once ``stop()`` is true."""
        networks = self.networks or default_cache()
        for row in rows:
            if stop():
                return
            yield execute_row(row, networks)


@dataclass(frozen=True)
class BatchProgress:
    """One row's result, and where the batch stands.

    Attributes:
        row: the row.
        status: ``done`` (written), ``skipped`` (its output was already there) or ``failed``.
        error: the one-line error of a failed row.
        seconds: the row's wall time; ``steps``, ``step_seconds`` and ``optimise_seconds`` its
            optimisation (see :class:`Outcome`).
        worker: where it ran; ``attempts``: how often it was started.
        finished: rows finished so far (any status); ``total`` rows in the batch.
        failed: rows failed so far.
        elapsed: seconds since the batch started; ``eta``: estimated seconds left.
    """

    row: Row
    status: Status
    error: str | None
    seconds: float
    steps: int
    step_seconds: float
    worker: str
    attempts: int
    finished: int
    total: int
    failed: int
    elapsed: float
    eta: float
    optimise_seconds: float = 0.0


@dataclass(frozen=True)
class BatchSummary:
    """How a batch ended."""

    done: int
    skipped: int
    failed: int
    total: int
    interrupted: bool
    seconds: float

    def line(self) -> str:
        """``"14 written, 1 skipped, 1 failed of 16 rows in 3:12"``."""
        stopped = ", stopped early" if self.interrupted else ""
        return (
            f"{self.done} written, {self.skipped} skipped, {self.failed} failed of "
            f"{self.total} rows in {clock(self.seconds)}{stopped}"
        )


class BatchRun:
    """A batch: iterate for :class:`BatchProgress` (one per row); :meth:`stop` any time.

    Args:
        rows: the rows (see :func:`pair_rows`, :func:`read_manifest`).
        outdir: the output folder (created if missing); the report goes there.
        executor: runs the rows (default :class:`LocalExecutor`).
        redo: run every row, even those whose output is already there.

    Raises:
        RestyleError: if the output folder cannot be created or written.
    """

    def __init__(
        self,
        rows: Sequence[Row],
        outdir: str | os.PathLike[str],
        executor: Executor | None = None,
        *,
        redo: bool = False,
    ) -> None:
        self.rows = list(rows)
        self.outdir = Path(outdir)
        self.executor: Executor = executor or LocalExecutor()
        self.redo = redo
        self.report_path = self.outdir / REPORT_NAME
        self._stop = False
        self._written: set[int] = set()
        self._counts = {"done": 0, "skipped": 0, "failed": 0}
        self._start = 0.0
        self._busy_since: float | None = None
        self._ran = 0
        self.summary: BatchSummary | None = None
        _prepare_folder(self.outdir)

    # ----- control ------------------------------------------------------------------------

    def stop(self) -> None:
        """Start no new row; the rows under way finish and are written."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop

    # ----- planning -----------------------------------------------------------------------

    def up_to_date(self, row: Row) -> bool:
        """Whether ``row``'s output exists and was made with the same settings, inputs and
        mode (as recorded in its metadata)."""
        if row.output is None or not row.output.is_file():
            return False
        try:
            meta = read_metadata(row.output)
            info = json.loads(meta.get("restyle", "{}"))
            batch = json.loads(meta.get(BATCH_KEY, '{"mode": "optimize"}'))
        except (RestyleError, ValueError, AttributeError):
            return False
        if not isinstance(info, dict):
            return False
        found = {
            "content": info.get("content"),
            "styles": info.get("styles"),
            "settings": info.get("settings"),
            "batch": batch,
        }
        return found == row.signature()

    def _check(self, row: Row) -> str | None:
        """Why ``row`` cannot be written where it says, or None."""
        if row.error is not None:
            return row.error
        assert row.output is not None
        try:
            row.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            return f"output folder cannot be created: {row.output.parent} ({e.strerror})"
        inputs = {"content": row.content, **{f"style {i + 1}": s for i, s in enumerate(row.styles)}}
        try:
            check_output_path(row.output, {k: v for k, v in inputs.items() if os.path.isfile(v)})
        except RestyleError as e:
            return str(e)
        return None

    # ----- the run ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[BatchProgress]:
        self._start = time.perf_counter()
        try:
            report = self.report_path.open("a", encoding="utf-8")
        except OSError as e:
            raise RestyleError(
                f"cannot write the batch report {self.report_path}: {e.strerror}"
            ) from None
        with report:
            self._log(report, {"event": "start", "rows": len(self.rows),
                               "executor": self.executor.name})  # fmt: skip
            try:
                todo: list[Row] = []
                for row in self.rows:
                    problem = self._check(row)
                    if problem is not None:
                        yield self._record(report, Outcome(row, None, problem))
                    elif not self.redo and self.up_to_date(row):
                        yield self._record(report, Outcome(row, None), skipped=True)
                    else:
                        todo.append(row)
                if todo and not self._stop:
                    self._busy_since = time.perf_counter()
                    for outcome in self.executor.run(todo, lambda: self._stop):
                        if outcome.row.index in self._written:
                            continue  # a duplicate (a retried worker): never written twice
                        yield self._record(report, self._write(outcome))
            finally:
                finished = sum(self._counts.values())
                self.summary = BatchSummary(
                    self._counts["done"], self._counts["skipped"], self._counts["failed"],
                    len(self.rows), finished < len(self.rows),
                    time.perf_counter() - self._start,
                )  # fmt: skip
                self._log(report, {"event": "end", **dataclasses.asdict(self.summary)})

    def _write(self, outcome: Outcome) -> Outcome:
        """Write a finished row's picture (once); a failed write fails the row."""
        row = outcome.row
        if outcome.image is None or row.output is None:
            return outcome
        try:
            save_image(outcome.image, row.output, metadata=row.metadata())
        except (RestyleError, ValueError, TypeError) as e:
            return dataclasses.replace(outcome, image=None, error=error_text(e))
        self._written.add(row.index)
        return outcome

    def _record(self, report: IO[str], o: Outcome, *, skipped: bool = False) -> BatchProgress:
        status: Status = "skipped" if skipped else ("failed" if o.error is not None else "done")
        self._counts[status] += 1
        if not skipped and o.seconds:
            self._ran += 1
        finished = sum(self._counts.values())
        now = time.perf_counter()
        left = len(self.rows) - finished
        eta = 0.0
        if self._busy_since is not None and self._ran:
            eta = (now - self._busy_since) / self._ran * left
        row = o.row
        self._log(report, {
            "row": row.index, "label": row.label, "status": status, "error": o.error,
            "content": row.content, "styles": list(row.styles),
            "output": None if row.output is None else str(row.output),
            "seconds": round(o.seconds, 3), "steps": o.steps,
            "step_seconds": round(o.step_seconds, 3),
            "optimise_seconds": round(o.optimise_seconds, 3), "worker": o.worker or None,
            "attempts": o.attempts,
        })  # fmt: skip
        return BatchProgress(
            row, status, o.error, o.seconds, o.steps, o.step_seconds, o.worker, o.attempts,
            finished, len(self.rows), self._counts["failed"], now - self._start, eta,
            o.optimise_seconds,
        )  # fmt: skip

    @staticmethod
    def _log(report: IO[str], record: dict[str, Any]) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        report.write(json.dumps({"time": stamp, **record}) + "\n")
        report.flush()


def _prepare_folder(outdir: Path) -> None:
    """Create the output folder if needed and check that files can be written there."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RestyleError(f"output folder is a file: {outdir}") from None
    except PermissionError:
        raise RestyleError(
            f"output folder cannot be created (permission denied): {outdir}"
        ) from None
    except OSError as e:
        raise RestyleError(f"output folder cannot be created: {outdir} ({e.strerror})") from None
    if not outdir.is_dir():
        raise RestyleError(f"output folder is not a folder: {outdir}")
    try:  # a real write: access() says yes to root, and no to nothing on some file systems
        with tempfile.TemporaryFile(dir=outdir):
            pass
    except OSError as e:
        raise RestyleError(f"output folder is not writable: {outdir} ({e.strerror})") from None
