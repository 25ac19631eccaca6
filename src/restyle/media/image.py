"""Image I/O: load anything a user throws at it as 8-bit sRGB, save atomically with metadata.

Loading accepts a path, a PIL image or a NumPy array and always returns a fresh 8-bit ``RGB``
image in sRGB: EXIF orientation applied, transparency composited onto white, palette,
greyscale, CMYK, LAB and 16-bit/float data converted, embedded ICC profiles honoured, and the
first frame taken from multi-frame files. Every problem with the input becomes a
:class:`~restyle.errors.RestyleError` whose message is one line naming the role and the path.

Saving is atomic (a temporary file in the destination folder, ``fsync``, ``os.replace``) and
stores string metadata that :func:`read_metadata` reads back: PNG text chunks, and a JSON object
in the EXIF ``ImageDescription`` tag for JPEG, WebP and TIFF.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import secrets
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ..errors import RestyleError

if TYPE_CHECKING:
    from PIL import ImageCms

__all__ = [
    "MAX_PIXELS",
    "SAVE_FORMATS",
    "ImageSource",
    "check_output_path",
    "load_image",
    "read_metadata",
    "resize",
    "save_image",
    "to_pil",
    "to_tensor",
]

ImageSource: TypeAlias = str | os.PathLike[str] | Image.Image | npt.NDArray[Any]
"""Anything :func:`load_image` accepts: a file path, a PIL image or a NumPy array."""

MAX_PIXELS = 89_478_485
"""Largest image (width x height) that is decoded: Pillow's default warning threshold.

About 9459 x 9459 pixels, or a 90-megapixel photo. The size is read from the file header and
checked before any pixel data is decoded, so a small file that claims to be huge (a
decompression bomb) is refused without using memory. Tests and callers may lower it.
"""

#: File name suffixes taken as images when a folder is given as input.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")

SAVE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
"""Output file extension (lower case) -> Pillow format name."""

_EXIF_ORIENTATION = 0x0112
_EXIF_IMAGE_DESCRIPTION = 0x010E
_HIGH_DEPTH_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_GREY_MODES = frozenset({"1", "L", "LA", "La"})
_ICC_MODE_FOR_SPACE = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
_JPEG_COMMENT_LIMIT = 60_000  # a JPEG COM segment holds at most 65533 bytes
_FLOAT_TOLERANCE = 1e-3  # float arrays may overshoot [0, 1] by rounding noise


# --------------------------------------------------------------------------------------------
# Messages


def _noun(role: str | None) -> str:
    """``"content"`` -> ``"content image"``; ``"image"`` and ``"style image"`` stay as they are."""
    role = (role or "image").strip() or "image"
    return role if role.lower().endswith("image") else f"{role} image"


def _show(path: str | os.PathLike[str]) -> str:
    """A path as text for a one-line message (quoted when it holds control characters)."""
    text = os.fspath(path)
    return text if text and text.isprintable() else repr(text)


def _detail(exc: BaseException) -> str:
    """The text of an exception squeezed onto one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _too_large(noun: str, shown: str, width: int, height: int) -> RestyleError:
    return RestyleError(
        f"{noun} is too large (decompression bomb guard): {shown} has {width}x{height} = "
        f"{width * height} pixels > limit {MAX_PIXELS}"
    )


# --------------------------------------------------------------------------------------------
# Loading


def load_image(source: ImageSource, *, role: str = "image") -> Image.Image:
    """Load a file path, PIL image or NumPy array as an 8-bit RGB image in sRGB.

    The image is fully decoded here, so a truncated or corrupt file fails now rather than
    halfway through a run, and any file opened is closed before returning.

    Handled: EXIF orientation (applied); alpha, ``LA``, ``PA`` and palette or colour-key
    transparency (composited onto white); palette, 1-bit and greyscale; CMYK including Adobe's
    inverted CMYK JPEGs; CIE LAB TIFFs; 16-bit and 32-bit integer and float greyscale (scaled
    to 8 bits, not clipped); embedded ICC profiles (converted to sRGB with LittleCMS when the
    profile can be used, otherwise ignored); multi-frame files (first frame). NumPy arrays may
    be ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` of ``uint8``, ``uint16``,
    ``bool`` or floats in [0, 1].

    Args:
        source: A path to an image file, a PIL image or a NumPy array (channels last).
        role: What the image is for (``"content"``, ``"style"``, ...), used in error messages:
            ``"content"`` gives "content image not found: ...".

    Returns:
        A new ``RGB`` image (never the object passed in), with an empty ``info`` dict.

    Raises:
        RestyleError: With a one-line message naming the role and the path when the file is
            missing, a directory, unreadable, empty, not an image, corrupt or truncated, has
            no pixels, or is larger than :data:`MAX_PIXELS`; or when an array has an
            unsupported shape, dtype or value range.

    Example:
        >>> import numpy as np
        >>> load_image(np.zeros((4, 6, 3), dtype=np.uint8), role="content").size
        (6, 4)
    """
    noun = _noun(role)
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", "") or ""
        shown = _show(name) if name else f"<{source.mode} PIL image {source.size}>"
        return _decode(source, noun, shown)
    if isinstance(source, np.ndarray):
        return _load_array(source, noun)
    if isinstance(source, (str, os.PathLike)):
        return _load_path(source, noun)
    raise RestyleError(
        f"{noun} must be a file path, a PIL image or a NumPy array, not {type(source).__name__}"
    )


def stat_input(path: str | os.PathLike[str], noun: str, shown: str) -> os.stat_result:
    """``os.stat`` of an input named ``noun`` (shown as ``shown``), its failures as one-line
    RestyleErrors: not found, permission denied, or any other reason."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise RestyleError(f"{noun} not found: {shown}") from None
    except PermissionError:
        raise RestyleError(f"{noun} cannot be read (permission denied): {shown}") from None
    except (OSError, ValueError) as exc:
        raise RestyleError(f"{noun} cannot be read: {shown} ({_detail(exc)})") from None


def _open_file(path: str | os.PathLike[str], noun: str, shown: str) -> IO[bytes]:
    """Open a regular, non-empty file for reading, turning every failure into RestyleError."""
    info = stat_input(path, noun, shown)
    if stat.S_ISDIR(info.st_mode):
        raise RestyleError(f"{noun} is a directory, not an image file: {shown}")
    if not stat.S_ISREG(info.st_mode):
        raise RestyleError(f"{noun} is not a regular file: {shown}")
    if info.st_size == 0:
        raise RestyleError(f"{noun} is an empty file (0 bytes): {shown}")
    try:
        return open(path, "rb")
    except PermissionError:
        raise RestyleError(f"{noun} cannot be read (permission denied): {shown}") from None
    except OSError as exc:
        raise RestyleError(f"{noun} cannot be read: {shown} ({_detail(exc)})") from None


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Locally: decompression-bomb warnings become errors, Pillow's other chatter is muted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open_image(fh: IO[bytes], noun: str, shown: str) -> Image.Image:
    """``Image.open`` (header only) with its failures turned into RestyleError."""
    try:
        return Image.open(fh)
    except UnidentifiedImageError:
        raise RestyleError(f"{noun} is not an image Pillow can read: {shown}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RestyleError(
            f"{noun} is too large (decompression bomb guard): {shown} ({_detail(exc)})"
        ) from None
    except MemoryError:
        raise RestyleError(f"{noun} is too large to open: {shown}") from None
    except Exception as exc:
        raise RestyleError(f"{noun} is corrupt or truncated: {shown} ({_detail(exc)})") from None


def _load_path(path: str | os.PathLike[str], noun: str) -> Image.Image:
    shown = _show(path)
    with _open_file(path, noun, shown) as fh, _pillow_warnings():
        im = _open_image(fh, noun, shown)
        with im:
            return _decode(im, noun, shown)


def _decode(im: Image.Image, noun: str, shown: str) -> Image.Image:
    """Check the size from the header, decode fully, and convert to 8-bit sRGB RGB."""
    width, height = im.size
    if width <= 0 or height <= 0:
        raise RestyleError(f"{noun} is empty ({width}x{height} pixels): {shown}")
    if width * height > MAX_PIXELS:
        raise _too_large(noun, shown, width, height)
    with _pillow_warnings():
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise RestyleError(
                f"{noun} is too large (decompression bomb guard): {shown} ({_detail(exc)})"
            ) from None
        except MemoryError:
            raise RestyleError(f"{noun} is too large to decode in memory: {shown}") from None
        except Exception as exc:
            raise RestyleError(
                f"{noun} is corrupt or truncated: {shown} ({_detail(exc)})"
            ) from None
        try:
            out = _to_srgb(im)
        except RestyleError:
            raise
        except MemoryError:
            raise RestyleError(f"{noun} is too large to convert in memory: {shown}") from None
        except Exception as exc:
            raise RestyleError(
                f"{noun} has pixels restyle cannot convert to RGB ({im.mode}): {shown} "
                f"({_detail(exc)})"
            ) from None
    if out is im:
        out = im.copy()
    out.info = {}
    return out


def _to_srgb(im: Image.Image) -> Image.Image:
    """Any decoded PIL image -> 8-bit RGB in sRGB (may return ``im`` itself if already so)."""
    icc = im.info.get("icc_profile")
    im = _apply_orientation(im)
    if im.mode in _HIGH_DEPTH_MODES:
        im = _high_depth_to_8bit(im)
    if im.mode == "LAB":
        return _lab_to_srgb(im)
    if _has_alpha(im):
        im = _flatten(im.convert("LA" if im.mode in _GREY_MODES else "RGBA"))
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode not in ("L", "RGB", "CMYK"):
        im = im.convert("RGB")  # P, RGBX, YCbCr, HSV, ...
    if isinstance(icc, bytes) and icc:
        im = _apply_icc(im, icc)
    return im if im.mode == "RGB" else im.convert("RGB")


def _apply_orientation(im: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says; unreadable EXIF is ignored."""
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION)
    except Exception:
        return im
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return im
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im


def _has_alpha(im: Image.Image) -> bool:
    if im.mode in _ALPHA_MODES:
        return True
    if im.info.get("transparency") is not None and im.mode in ("1", "L", "P", "RGB"):
        return True
    return im.mode == "P" and im.palette is not None and im.palette.mode.endswith("A")


def _flatten(im: Image.Image) -> Image.Image:
    """Composite an ``LA`` or ``RGBA`` image onto opaque white."""
    grey = im.mode == "LA"
    base = Image.new("L" if grey else "RGB", im.size, 255 if grey else (255, 255, 255))
    base.paste(im.convert(base.mode), mask=im.getchannel("A"))
    return base


def _high_depth_to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale -> ``L`` (or ``LA`` for a colour-key), scaled.

    ``I;16*`` is 16-bit by definition (divide by 257). ``I`` holds 8-bit values when they all
    fit in 0..255, else 16-bit values when they fit in 0..65535, else anything (stretched to the
    full range). ``F`` is taken as [0, 1], else 0..255, else 0..65535, else stretched.
    """
    mode = im.mode
    raw = np.asarray(im)
    transparency = im.info.get("transparency")
    alpha: npt.NDArray[np.uint8] | None = None
    if mode != "F" and isinstance(transparency, int) and not isinstance(transparency, bool):
        alpha = np.where(raw == transparency, 0, 255).astype(np.uint8)
    values = raw.astype(np.float32)
    if mode == "F":
        values = np.where(np.isfinite(values), values, np.float32(0.0))
    lo = float(values.min())
    hi = float(values.max())
    if mode.startswith("I;16"):
        scaled = values / 257.0
    elif mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = values * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = values
    elif lo >= 0.0 and hi <= 65535.0:
        scaled = values / 257.0
    elif hi > lo:
        scaled = (values - lo) * (255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(values)
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if alpha is not None:
        return Image.fromarray(np.ascontiguousarray(np.stack([grey, alpha], axis=-1)), "LA")
    return Image.fromarray(grey, "L")


@functools.lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _apply_icc(im: Image.Image, icc: bytes) -> Image.Image:
    """Convert from the embedded profile to sRGB; on any problem return ``im`` unchanged."""
    try:
        from PIL import ImageCms
    except ImportError:  # Pillow built without LittleCMS
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = source.profile.xcolor_space.strip().upper()
        if _ICC_MODE_FOR_SPACE.get(space) != im.mode:
            return im  # profile does not describe these pixels: ignore it
        description = (source.profile.profile_description or "").lower()
        if space == "RGB" and "srgb" in description:
            return im  # already sRGB; avoid a needless round trip
        converted = ImageCms.profileToProfile(im, source, _srgb_profile(), outputMode="RGB")
    except MemoryError:
        raise
    except Exception:
        return im
    return converted if converted is not None else im


def _lab_to_srgb(im: Image.Image) -> Image.Image:
    from PIL import ImageCms

    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))
    transform = ImageCms.buildTransform(lab, _srgb_profile(), "LAB", "RGB")
    converted = ImageCms.applyTransform(im, transform)
    if converted is None:  # pragma: no cover - only with inPlace=True
        raise ValueError("LAB conversion failed")
    return converted


def _load_array(array: npt.NDArray[Any], noun: str) -> Image.Image:
    """A NumPy image (channels last) -> 8-bit RGB."""
    shape = tuple(int(n) for n in array.shape)
    if not (array.ndim == 2 or (array.ndim == 3 and shape[2] in (1, 3, 4))):
        raise RestyleError(
            f"{noun} array has shape {shape}; expected (H, W), (H, W, 1), (H, W, 3) or "
            "(H, W, 4) with channels last"
        )
    height, width = shape[0], shape[1]
    shown = f"array of shape {shape}"
    if height == 0 or width == 0:
        raise RestyleError(f"{noun} is empty ({width}x{height} pixels): {shown}")
    if width * height > MAX_PIXELS:
        raise _too_large(noun, shown, width, height)
    kind, size = array.dtype.kind, array.dtype.itemsize
    data: npt.NDArray[np.uint8]
    if kind == "b":
        data = np.where(array, 255, 0).astype(np.uint8)
    elif kind == "u" and size == 1:
        data = array.astype(np.uint8, copy=False)
    elif kind == "u" and size == 2:
        data = np.rint(array.astype(np.float32) / 257.0).astype(np.uint8)
    elif kind == "f":
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise RestyleError(f"{noun} array contains NaN or infinite values: {shown}")
        lo, hi = float(values.min()), float(values.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1.0 + _FLOAT_TOLERANCE:
            raise RestyleError(
                f"{noun} float array must hold values in [0, 1], found {lo:.4g} to {hi:.4g}: "
                f"{shown} (divide 0-255 data by 255, or pass uint8)"
            )
        data = np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise RestyleError(
            f"{noun} array has dtype {array.dtype}; expected uint8, uint16, bool or float "
            f"in [0, 1]: {shown}"
        )
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    mode = "L" if data.ndim == 2 else ("RGB" if data.shape[2] == 3 else "RGBA")
    im = Image.fromarray(np.ascontiguousarray(data), mode)
    if mode == "RGBA":
        return _flatten(im)
    return im.convert("RGB")


# --------------------------------------------------------------------------------------------
# Tensors and resizing


def to_tensor(img: Image.Image) -> torch.Tensor:
    """Convert a PIL image to a float32 tensor of shape (1, 3, H, W) with values in [0, 1].

    Args:
        img: Any PIL image; it is converted to RGB first.

    Returns:
        A contiguous CPU tensor.
    """
    a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(t: torch.Tensor) -> Image.Image:
    """Convert a tensor of shape (1, 3, H, W) or (3, H, W) in [0, 1] to an RGB PIL image.

    Values are clamped to [0, 1] (NaN becomes 0) and rounded to the nearest 8-bit level.

    Args:
        t: The image tensor, on any device and of any floating dtype.

    Returns:
        A new ``RGB`` image.

    Raises:
        ValueError: If the tensor does not have one of the two shapes above.
    """
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(
            f"expected a tensor of shape (1, 3, H, W) or (3, H, W), got {tuple(t.shape)}"
        )
    x = torch.nan_to_num(t.detach().float().cpu(), nan=0.0).clamp(0, 1)
    a = (x * 255.0).round().to(torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).contiguous().numpy(), "RGB")


def resize(img: Image.Image, width: int, height: int) -> Image.Image:
    """Resize to exactly ``width`` x ``height`` with Lanczos filtering.

    Args:
        img: The image to resize.
        width: Target width in pixels (positive).
        height: Target height in pixels (positive).

    Returns:
        ``img`` itself when it already has that size, else a new image.

    Raises:
        ValueError: If a target dimension is not positive.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"resize target must be positive, got {width}x{height}")
    if img.size == (width, height):
        return img
    return img.resize((width, height), Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------------------------
# Output paths and saving


def _supported_list() -> str:
    return ", ".join(sorted(SAVE_FORMATS))


def _format_for(path: Path, shown: str) -> str:
    suffix = path.suffix.lower()
    if not suffix:
        raise RestyleError(
            f"output path has no file extension: {shown} (use one of {_supported_list()})"
        )
    fmt = SAVE_FORMATS.get(suffix)
    if fmt is None:
        raise RestyleError(
            f"unsupported output file type {suffix!r}: {shown} (use one of {_supported_list()})"
        )
    return fmt


def check_output_path(
    path: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]] = (),
) -> Path:
    """Validate an output path before a long run starts.

    Args:
        path: Where the result will be written.
        inputs: The run's input files, either as paths or as a mapping of role to path
            (``{"content": "photo.jpg", "style": "art.png"}``), which names the role in the
            message. Items that are not paths (PIL images, arrays) are skipped.

    Returns:
        The resolved (absolute, symlink-free) output path.

    Raises:
        RestyleError: If the extension is not one of :data:`SAVE_FORMATS`, the folder does
            not exist or is not writable, the path is a directory or some other non-regular
            file, or it is the same file as one of ``inputs``.
    """
    shown = _show(path)
    p = Path(path)
    _format_for(p, shown)
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError) as exc:
        raise RestyleError(f"output path cannot be resolved: {shown} ({_detail(exc)})") from None
    folder = resolved.parent
    if not folder.exists():
        raise RestyleError(f"output folder does not exist: {_show(folder)} (for {shown})")
    if not folder.is_dir():
        raise RestyleError(f"output folder is not a folder: {_show(folder)} (for {shown})")
    if resolved.is_dir():
        raise RestyleError(f"output path is a directory, not a file: {shown}")
    if resolved.exists() and not resolved.is_file():
        raise RestyleError(f"output path exists and is not a regular file: {shown}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RestyleError(f"output folder is not writable: {_show(folder)} (for {shown})")

    items: Iterable[tuple[str | None, object]]
    if isinstance(inputs, (str, os.PathLike)):
        items = [(None, inputs)]
    elif isinstance(inputs, Mapping):
        items = list(inputs.items())
    else:
        items = [(None, item) for item in inputs]
    for role, item in items:
        if not isinstance(item, (str, os.PathLike)):
            continue
        if _same_file(resolved, item):
            what = f"the {_noun(role)}" if role else "an input image"
            raise RestyleError(f"output path is the same as {what}: {shown}")
    return resolved


def _same_file(resolved: Path, other: str | os.PathLike[str]) -> bool:
    try:
        other_resolved = Path(other).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    if other_resolved == resolved:
        return True
    try:
        return resolved.exists() and other_resolved.exists() and os.path.samefile(resolved, other)
    except (OSError, ValueError):
        return False


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Validate keys (PNG keyword rules, which suit every format) and values."""
    if not metadata:
        return {}
    checked: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata keys and values must be str, got {key!r}: {value!r}")
        if not 1 <= len(key) <= 79 or not key.isprintable():
            raise ValueError(f"metadata key must be 1-79 printable characters: {key!r}")
        try:
            key.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"metadata key must be Latin-1 text: {key!r}") from None
        checked[key] = value
    return checked


def _prepare_for_save(img: Image.Image, fmt: str) -> Image.Image:
    """A copy in a mode the format stores, with no stale ``info`` (ICC, EXIF...) attached."""
    if fmt == "JPEG":
        if _has_alpha(img):
            out = _flatten(img.convert("LA" if img.mode in _GREY_MODES else "RGBA"))
        elif img.mode in ("RGB", "L"):
            out = img.copy()
        else:
            out = img.convert("RGB")
    elif img.mode in ("RGB", "RGBA", "L") and not (img.mode == "L" and fmt == "WEBP"):
        out = img.copy()
    else:
        out = img.convert("RGBA" if _has_alpha(img) else "RGB")
    out.info = {}
    return out


def _save_params(fmt: str, metadata: dict[str, str], quality: int) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if fmt == "PNG":
        if metadata:
            info = PngImagePlugin.PngInfo()
            for key, value in metadata.items():
                info.add_text(key, value)  # tEXt, or iTXt when not Latin-1
            params["pnginfo"] = info
        return params
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    elif fmt == "TIFF":
        params.update(compression="tiff_lzw")
    if metadata:
        text = json.dumps(metadata, ensure_ascii=True, separators=(",", ":"))
        exif = Image.Exif()
        exif[_EXIF_IMAGE_DESCRIPTION] = text
        params["exif"] = exif.tobytes()
        if fmt == "JPEG" and len(text) <= _JPEG_COMMENT_LIMIT:
            params["comment"] = text
    return params


def create_temp(folder: Path, name: str, shown: str) -> tuple[Path, int]:
    """Create an empty temporary file beside the target (permissions follow the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / f".{name[:200]}.{secrets.token_hex(6)}.tmp"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except (FileNotFoundError, NotADirectoryError):
            raise RestyleError(
                f"output folder does not exist: {_show(folder)} (for {shown})"
            ) from None
        except PermissionError:
            raise RestyleError(
                f"output folder is not writable: {_show(folder)} (for {shown})"
            ) from None
        except OSError as exc:
            raise RestyleError(f"cannot write output image: {shown} ({_detail(exc)})") from None
    raise RestyleError(f"cannot create a temporary file next to {shown}")  # pragma: no cover


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the OS allows it (not on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_image(
    img: Image.Image,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
    quality: int = 95,
) -> None:
    """Save an image atomically, in the format given by the file extension.

    The image is written to a temporary file in the destination folder, flushed to disk and
    renamed over ``path``, so readers never see a half-written file and an existing file is
    left untouched if anything fails (the temporary file is removed, also on Ctrl-C). This
    function does not protect inputs from being overwritten: call :func:`check_output_path`
    first.

    Args:
        img: The image. JPEG gets RGB (alpha composited onto white) or L; the other formats
            keep RGB, RGBA or L where they can store it.
        path: Destination; the extension must be one of :data:`SAVE_FORMATS`.
        metadata: String key/value pairs to store (keys: 1-79 Latin-1 characters). PNG stores
            them as text chunks; JPEG, WebP and TIFF as a JSON object in the EXIF
            ``ImageDescription`` tag (JPEG also as a comment). :func:`read_metadata` reads
            them back.
        quality: JPEG and WebP quality, 1-100.

    Raises:
        RestyleError: For an unsupported extension, a missing or read-only folder, a
            directory at ``path``, or a failed write (disk full, ...).
        ValueError: For a quality outside 1-100 or an invalid metadata key.
        TypeError: For non-string metadata.
    """
    shown = _show(path)
    p = Path(path)
    fmt = _format_for(p, shown)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer from 1 to 100, got {quality!r}")
    params = _save_params(fmt, _check_metadata(metadata), quality)
    if p.is_dir():
        raise RestyleError(f"output path is a directory, not a file: {shown}")
    out = _prepare_for_save(img, fmt)
    try:
        write_atomically(p, shown, lambda fh: out.save(fh, format=fmt, **params))
    except (OSError, ValueError) as exc:
        raise RestyleError(f"cannot write output image: {shown} ({_detail(exc)})") from exc


def write_atomically(path: Path, shown: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` atomically: into a temporary file beside it
    (:func:`create_temp`, permissions from the umask), ``fsync``, renamed over ``path``, the
    folder synced. On any failure the temporary file is removed and the error passes on;
    ``path`` is untouched.

    Raises:
        RestyleError: If the temporary file cannot be created (missing or read-only folder).
    """
    folder = path.parent
    tmp, fd = create_temp(folder, path.name, shown)
    try:
        with open(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _json_mapping(text: object) -> dict[str, str] | None:
    """Parse a JSON object of strings written by :func:`save_image`; None if it is not one."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text.rstrip("\x00"))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in value.items()
    }


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read back the metadata that :func:`save_image` stored.

    Args:
        path: An image file.

    Returns:
        For PNG, all text chunks (tEXt, zTXt, iTXt); for other formats, the JSON object in the
        EXIF ``ImageDescription`` tag (or, for JPEG, in the comment). ``{}`` when there is none.

    Raises:
        RestyleError: If the file is missing, unreadable or not an image.
    """
    noun = "image"
    shown = _show(path)
    with _open_file(path, noun, shown) as fh, _pillow_warnings():
        im = _open_image(fh, noun, shown)
        with im:
            try:
                if isinstance(im, PngImagePlugin.PngImageFile):
                    return {str(k): str(v) for k, v in im.text.items()}
                found = _json_mapping(im.getexif().get(_EXIF_IMAGE_DESCRIPTION))
                if found is None:
                    found = _json_mapping(im.info.get("comment"))
            except RestyleError:
                raise
            except Exception as exc:
                raise RestyleError(
                    f"{noun} is corrupt or truncated: {shown} ({_detail(exc)})"
                ) from None
    return found or {}
