"""``python tools/figures.py``: reproduce the paper's figures as labelled contact sheets.

Gatys, Ecker & Bethge (CVPR 2016) make their case with figures; this command remakes them with
the current code from the example images in ``../shared/images`` (Tübingen photo, four
public-domain paintings) and writes, for each sheet, ``NAME.jpg`` (the contact sheet, labels
drawn on it) and ``NAME.md`` (run settings and the metrics of :mod:`restyle.metrics` per cell).

Sheets (``--only NAME``):

* ``fig2``: the Tübingen photo in the style of each painting (the paper's Fig. 2).
* ``tradeoff``: style layers (rows) against the content/style ratio alpha/beta (columns), for
  Kandinsky's Composition VII (the paper's Fig. 3).
* ``content_layer``: content matched at relu2_2 versus relu4_2, with a 2x detail crop.
* ``init``: starting from the photo, from the painting, and from three noise seeds (Fig. 6).
* ``color``: colour control: none, luminance-only transfer, colour histogram matching.
* ``texture``: texture synthesis from each painting (no content photo).
* ``regions``: spatial control (Gatys et al., CVPR 2017): the sky in one painting and the town
  in another, the town kept as the photo, and a portrait with the face kept photographic; the
  regions drawn beside each result.
* ``scale``: scale control (same paper): the fine strokes of one painting with the large-scale
  structure of another.

Every setting not named here comes from :class:`~restyle.config.Settings` at run time.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from restyle.cli import guarded
from restyle.config import PAPER_STYLE_LAYERS, Settings
from restyle.errors import RestyleError
from tools.shared import IMAGES

#: Default longest side of each generated image (px), chosen so that all sheets finish within
#: 30 minutes on a 2-core laptop CPU.
DEFAULT_SIZE = 256
#: Default optimisation steps per image (over all coarse-to-fine scales).
DEFAULT_ITERATIONS = 60
JPEG_QUALITY = 85
#: The initialisation sheet's steps, as a multiple of the other sheets'.
INIT_STEPS_FACTOR = 3
#: The colour sheet's style strength, as a multiple of the default.
COLOR_STYLE_STRENGTH = 2.0

CONTENT_FILE = "content/tubingen.jpg"
PORTRAIT_FILE = "content/astronaut.png"
#: The regions sheet's masks of the Tübingen photo (see tests/data/tubingen_masks.py).
MASKS = Path(__file__).resolve().parents[1] / "tests" / "data"
#: The portrait's face and hair, drawn as an ellipse in its 512 x 512 pixels (left, top,
#: right, bottom), feathered by FACE_FEATHER px.
FACE_ELLIPSE = (150, 12, 306, 214)
FACE_FEATHER = 4
#: Colours of the regions on the sheet: the first painting's, the second's.
REGION_COLOURS = ((40, 110, 255), (255, 140, 0))
#: Painting file -> (short label, full title).
PAINTINGS: dict[str, tuple[str, str]] = {
    "style/shipwreck_of_the_minotaur.jpg": (
        "Turner",
        "J. M. W. Turner, The Shipwreck of the Minotaur",
    ),
    "style/starry_night.jpg": ("Van Gogh", "Vincent van Gogh, The Starry Night"),
    "style/the_scream.jpg": ("Munch", "Edvard Munch, The Scream"),
    "style/composition_vii.jpg": ("Kandinsky", "Wassily Kandinsky, Composition VII"),
}
TURNER, STARRY, SCREAM, KANDINSKY = PAINTINGS
TUBINGEN_CREDIT = (
    "Tuebingen Neckarfront, photo by Andreas Praefcke, CC BY 3.0, "
    "via Wikimedia Commons (downscaled)"
)
PAINTINGS_CREDIT = "Paintings: public domain."

# --------------------------------------------------------------------------------------------
# Drawing: fonts, text, the contact-sheet layout


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (wide Unicode coverage) if the system has it, else Pillow's own font."""
    names = ["DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"]
    names += ["LiberationSans-Bold.ttf" if bold else "LiberationSans-Regular.ttf"]
    for name in names:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _text_size(text: str, f: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> tuple[int, int]:
    left, top, right, bottom = f.getbbox(text)
    return int(right - left), int(bottom - top)


def _line_height(f: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    return _text_size("Hgy", f)[1] + 4


def wrap(text: str, f: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` px (words longer than that stay whole).

    Explicit newlines in ``text`` start new lines.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        line = ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if not line or _text_size(candidate, f)[0] <= width:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def fit(img: Image.Image, box: tuple[int, int]) -> Image.Image:
    """``img`` scaled to fit inside ``box`` (keeping its aspect ratio); never enlarged twice."""
    w, h = img.size
    f = min(box[0] / w, box[1] / h)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return img if size == img.size else img.resize(size, Image.Resampling.LANCZOS)


def with_inset(img: Image.Image, thumb: Image.Image, frac: float = 0.33) -> Image.Image:
    """A copy of ``img`` with ``thumb`` in its bottom-left corner in a white frame (as in the
    paper's Fig. 2)."""
    out = img.convert("RGB").copy()
    t = fit(thumb.convert("RGB"), (round(img.width * frac), round(img.height * frac)))
    border = max(1, round(min(img.size) / 128))
    frame = Image.new("RGB", (t.width + 2 * border, t.height + 2 * border), "white")
    frame.paste(t, (border, border))
    out.paste(frame, (0, out.height - frame.height))
    return out


def detail(
    img: Image.Image, zoom: float = 2.0, center: tuple[float, float] = (0.5, 0.5)
) -> Image.Image:
    """The region around ``center`` (fractions of width and height) enlarged ``zoom`` times,
    at the size of ``img``."""
    w, h = img.size
    cw, ch = w / zoom, h / zoom
    x0 = min(max(center[0] * w - cw / 2, 0), w - cw)
    y0 = min(max(center[1] * h - ch / 2, 0), h - ch)
    box = (round(x0), round(y0), round(x0 + cw), round(y0 + ch))
    return img.crop(box).resize((w, h), Image.Resampling.LANCZOS)


PAD = 10
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
GREY = (90, 90, 90)


def contact_sheet(
    cells: Sequence[Sequence[Image.Image | None]],
    *,
    title: str,
    columns: Sequence[str] = (),
    rows: Sequence[str] = (),
    captions: Sequence[Sequence[str]] | None = None,
    notes: Sequence[str] = (),
    cell_size: tuple[int, int] | None = None,
    row_header_width: int = 130,
) -> Image.Image:
    """Lay out images in a labelled grid: a title, column headers, row headers, a caption
    under each cell and notes at the bottom.

    Args:
        cells: rows of images (``None`` leaves a cell empty); rows may differ in length.
        title: drawn large at the top.
        columns: one header per column (empty: no header row).
        rows: one header per row, drawn left of it (empty: no header column).
        captions: small text under each cell, same shape as ``cells`` ("" for none).
        notes: lines of small text at the bottom (credits, settings); wrapped to the width.
        cell_size: the box each image is fitted into; default: the largest image's size.
        row_header_width: width of the row-header column in px (when ``rows`` is given).

    Returns:
        An RGB image.
    """
    n_rows = len(cells)
    n_cols = max((len(r) for r in cells), default=0)
    if n_rows == 0 or n_cols == 0:
        raise ValueError("a contact sheet needs at least one cell")
    if columns and len(columns) != n_cols:
        raise ValueError(f"{len(columns)} column headers for {n_cols} columns")
    if rows and len(rows) != n_rows:
        raise ValueError(f"{len(rows)} row headers for {n_rows} rows")
    images = [im for r in cells for im in r if im is not None]
    if cell_size is None:
        cell_size = (
            max((im.width for im in images), default=64),
            max((im.height for im in images), default=64),
        )
    cw, ch = cell_size
    f_title, f_head, f_cap, f_note = font(22, True), font(15, True), font(13), font(12)
    head_w = row_header_width if rows else 0
    width = PAD + head_w + n_cols * (cw + PAD)

    title_lines = wrap(title, f_title, width - 2 * PAD)
    col_lines = [wrap(c, f_head, cw) for c in columns]
    col_h = max((len(x) for x in col_lines), default=0) * _line_height(f_head)
    cap_lines: list[list[list[str]]] = []
    for r in range(n_rows):
        row_caps = list(captions[r]) if captions and r < len(captions) else []
        cap_lines.append([wrap(c, f_cap, cw) if c else [] for c in row_caps])
    cap_h = [max((len(x) for x in caps), default=0) * _line_height(f_cap) for caps in cap_lines]
    row_head_lines = [wrap(t, f_head, head_w - PAD) for t in rows]
    row_h = [
        max(ch + cap_h[r], len(row_head_lines[r]) * _line_height(f_head) if rows else 0)
        for r in range(n_rows)
    ]
    note_lines = [line for n in notes for line in wrap(n, f_note, width - 2 * PAD)]

    top = PAD + len(title_lines) * _line_height(f_title) + PAD
    grid_top = top + col_h + (PAD // 2 if columns else 0)
    grid_h = sum(row_h) + PAD * n_rows
    notes_h = len(note_lines) * _line_height(f_note) + (PAD if note_lines else 0)
    height = grid_top + grid_h + notes_h + PAD

    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    y = PAD
    for line in title_lines:
        draw.text((PAD, y), line, font=f_title, fill=INK)
        y += _line_height(f_title)
    x0 = PAD + head_w
    for c, lines in enumerate(col_lines):
        x = x0 + c * (cw + PAD)
        yy = top + col_h - len(lines) * _line_height(f_head)  # bottom-aligned
        for line in lines:
            tw = _text_size(line, f_head)[0]
            draw.text((x + (cw - tw) // 2, yy), line, font=f_head, fill=INK)
            yy += _line_height(f_head)
    y = grid_top
    for r, row in enumerate(cells):
        if rows:
            lines = row_head_lines[r]
            yy = y + (ch - len(lines) * _line_height(f_head)) // 2
            for line in lines:
                draw.text((PAD, yy), line, font=f_head, fill=INK)
                yy += _line_height(f_head)
        for c, im in enumerate(row):
            x = x0 + c * (cw + PAD)
            if im is not None:
                t = fit(im.convert("RGB"), (cw, ch))
                sheet.paste(t, (x + (cw - t.width) // 2, y + (ch - t.height) // 2))
            caps = cap_lines[r][c] if c < len(cap_lines[r]) else []
            yy = y + ch + 2
            for line in caps:
                tw = _text_size(line, f_cap)[0]
                draw.text((x + (cw - tw) // 2, yy), line, font=f_cap, fill=GREY)
                yy += _line_height(f_cap)
        y += row_h[r] + PAD
    for line in note_lines:
        draw.text((PAD, y), line, font=f_note, fill=GREY)
        y += _line_height(f_note)
    return sheet


# --------------------------------------------------------------------------------------------
# What each sheet runs


@dataclass
class Job:
    """One image to make: ``content`` (None for a texture) in the style of ``style``."""

    label: str
    content: Image.Image | None
    style: Image.Image
    settings: Settings
    result: Image.Image | None = None
    seconds: float = 0.0
    scores: dict[str, Any] = field(default_factory=dict)
    #: Spatial control: more paintings, one mask per painting, a name per region.
    more_styles: tuple[Image.Image, ...] = ()
    masks: tuple[Image.Image, ...] = ()
    names: tuple[str, ...] = ()
    #: Scale control: the painting of the large-scale structure.
    coarse: Image.Image | None = None


@dataclass
class SheetResult:
    """What :func:`make_sheet` produced."""

    name: str
    image_path: Path
    table_path: Path
    seconds: float
    cpu_seconds: float
    runs: int


@dataclass
class Inputs:
    """The example images, loaded once."""

    folder: Path
    photo: Image.Image
    paintings: dict[str, Image.Image]
    portrait: Image.Image | None = None


def find_images(given: str | None) -> Path:
    """The example-image folder: ``given``, else ``shared/images`` beside the repository."""
    candidates = [Path(given)] if given is not None else [IMAGES]
    needed = [CONTENT_FILE, *PAINTINGS]
    for folder in candidates:
        if all((folder / n).is_file() for n in needed):
            return folder
    folder = candidates[0]
    missing = next(n for n in needed if not (folder / n).is_file())
    hint = "" if given is not None else "; pass --images DIR"
    raise RestyleError(
        f"example images not found: {folder / missing} is missing{hint} (a folder with "
        f"{CONTENT_FILE} and the four paintings in style/, like ../shared/images)"
    )


def load_inputs(folder: Path) -> Inputs:
    """Load the Tübingen photo and the four paintings."""
    from restyle.media.image import load_image

    photo = load_image(folder / CONTENT_FILE, role="content image")
    paintings = {n: load_image(folder / n, role="style image") for n in PAINTINGS}
    portrait = folder / PORTRAIT_FILE
    return Inputs(
        folder,
        photo,
        paintings,
        load_image(portrait, role="content image") if portrait.is_file() else None,
    )


def face_mask(size: tuple[int, int]) -> Image.Image:
    """White everywhere but the portrait's face and hair (:data:`FACE_ELLIPSE`), feathered."""
    from PIL import ImageFilter

    mask = Image.new("L", (512, 512), 255)
    ImageDraw.Draw(mask).ellipse(FACE_ELLIPSE, fill=0)
    mask = mask.filter(ImageFilter.GaussianBlur(FACE_FEATHER))
    return mask.resize(size, Image.Resampling.BILINEAR)


def region_map(photo: Image.Image, masks: Sequence[Image.Image]) -> Image.Image:
    """The photo, greyed, with each mask's region tinted in its :data:`REGION_COLOURS` (what
    no mask covers stays the greyed photo)."""
    import numpy as np

    grey = np.asarray(photo.convert("L").convert("RGB"), dtype=np.float32) * 0.6 + 60
    out = grey.copy()
    for mask, colour in zip(masks, REGION_COLOURS, strict=False):
        m = np.asarray(mask.convert("L").resize(photo.size), dtype=np.float32)[..., None] / 255
        out = out * (1 - 0.6 * m) + np.asarray(colour, dtype=np.float32) * 0.6 * m
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def _num(x: float) -> str:
    """A weight ratio for a label: ``3e-07`` -> ``3e-7``, ``1e-06`` -> ``1e-6``."""
    text = f"{x:.2g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


_RATIO_NAMES = ("default ÷ 100", "default ÷ 10", "default", "default × 10")


def tradeoff_ratios(base: Settings) -> list[float]:
    """Four alpha/beta ratios, from style- to content-dominated: the default's times 0.01, 0.1,
    1 and 10.

    The paper's columns are 1e-5 ... 1e-2, and its Fig. 2 balance (1e-3) is the third. This
    network's filters are normalised differently, so that balance needs a much smaller ratio
    here (the default); the sheet spans the same four decades with the default third.
    """
    if base.beta <= 0 or base.alpha <= 0:
        raise RestyleError("the trade-off sheet needs positive default content and style weights")
    r = base.alpha / base.beta
    return [r * k for k in (0.01, 0.1, 1.0, 10.0)]


def _layer_range(layers: Sequence[str]) -> str:
    return layers[0] if len(layers) == 1 else f"{layers[0]} … {layers[-1]}"


@dataclass
class SheetSpec:
    """A sheet: its title, the grid of jobs (None for an input shown as is) and its labels."""

    name: str
    title: str
    painting: str | None
    grid: list[list[Job | Image.Image | None]]
    columns: list[str]
    rows: list[str] = field(default_factory=list)
    base: Settings = field(default_factory=Settings)
    note: str = ""
    post: Callable[[list[list[Image.Image | None]]], list[list[Image.Image | None]]] | None = None
    uses_photo: bool = True


def build_specs(inputs: Inputs, base: Settings) -> dict[str, SheetSpec]:
    """Every sheet's jobs, with settings derived from ``base`` (the defaults, resized)."""
    photo, paint = inputs.photo, inputs.paintings
    specs: dict[str, SheetSpec] = {}

    # Fig. 2: one photo, four paintings.
    jobs: list[Job | Image.Image | None] = [photo]
    for name, (short, _) in PAINTINGS.items():
        jobs.append(Job(short, photo, paint[name], base))
    specs["fig2"] = SheetSpec(
        "fig2",
        "The photo in the style of four paintings (paper Fig. 2)",
        None,
        [jobs],
        ["Photo"] + [f"{PAINTINGS[n][0]}: {PAINTINGS[n][1].split(', ')[1]}" for n in PAINTINGS],
        base=base,
        note="Each painting is shown inset, bottom left.",
    )

    # Fig. 3: style layers x alpha/beta, Kandinsky.
    ratios = tradeoff_ratios(base)
    grid: list[list[Job | Image.Image | None]] = []
    row_labels = []
    for k in range(1, len(PAPER_STYLE_LAYERS) + 1):
        layers = PAPER_STYLE_LAYERS[:k]
        row_labels.append(f"style: {_layer_range(layers)}")
        row: list[Job | Image.Image | None] = []
        for r in ratios:
            s = base.replace(style_layers=layers, content_weight=r * base.beta)
            row.append(Job(f"{_layer_range(layers)}, α/β={_num(r)}", photo, paint[KANDINSKY], s))
        grid.append(row)
    specs["tradeoff"] = SheetSpec(
        "tradeoff",
        "Style layers (rows) against the content/style ratio α/β (columns), "
        "Kandinsky's Composition VII (paper Fig. 3)",
        KANDINSKY,
        grid,
        [f"α/β = {_num(r)}\n({k})" for r, k in zip(ratios, _RATIO_NAMES, strict=True)],
        row_labels,
        base=base,
        note=(
            "Columns: the default α/β × 0.01, 0.1, 1, 10: the same four decades as the paper's "
            "1e-5 … 1e-2, with the default where the paper's Fig. 2 ratio 1e-3 is (this "
            "network's filter scale differs, so its numbers differ). Rows: style layers used, "
            "w_l = 1/(number of layers)."
        ),
    )

    # Content layer: relu2_2 vs relu4_2, Starry Night, with a detail crop.
    jobs = [photo]
    for layer in ("relu2_2", "relu4_2"):
        jobs.append(
            Job(f"content {layer}", photo, paint[STARRY], base.replace(content_layers=(layer,)))
        )

    def crop_row(rows_: list[list[Image.Image | None]]) -> list[list[Image.Image | None]]:
        # Every image at the outputs' size first, so the photo's crop is no sharper than theirs.
        size = min((im.size for im in rows_[0] if im is not None), key=lambda wh: wh[0] * wh[1])
        small = [None if im is None else fit(im, size) for im in rows_[0]]
        return [rows_[0], [None if im is None else detail(im, 2.0, (0.42, 0.55)) for im in small]]

    specs["content_layer"] = SheetSpec(
        "content_layer",
        "Matching content at relu2_2 (paper: conv2_2) versus relu4_2 (paper: conv4_2), "
        "Van Gogh's The Starry Night",
        STARRY,
        [jobs],
        ["Photo", "content: relu2_2", "content: relu4_2"],
        ["whole image", "detail, 2×"],
        base=base,
        note="Same α/β for both layers. Bottom row: the centre of each image enlarged twice.",
        post=crop_row,
    )

    # Initialisation: content, style, three noise seeds; Turner. A start from noise is far
    # from any answer, so this sheet runs INIT_STEPS_FACTOR times the steps for every start.
    longer = base.replace(iterations=base.iterations * INIT_STEPS_FACTOR)
    jobs = [
        Job("from the photo", photo, paint[TURNER], longer.replace(init="content")),
        Job("from the painting", photo, paint[TURNER], longer.replace(init="style")),
    ]
    jobs += [
        Job(f"noise, seed {seed}", photo, paint[TURNER], longer.replace(init="noise", seed=seed))
        for seed in (0, 1, 2)
    ]
    specs["init"] = SheetSpec(
        "init",
        "Initialisation: from the photo, from the painting, and from white noise with three "
        "seeds, Turner's The Shipwreck of the Minotaur (paper Fig. 6)",
        TURNER,
        [jobs],
        [j.label for j in jobs if isinstance(j, Job)],
        base=base,
        note=f"Every start gets {INIT_STEPS_FACTOR}× the other sheets' steps: noise is far from "
        "any answer.",
    )

    # Colour: none, luminance, histogram; The Scream.
    # Twice the default style strength, so that what each mode does to the colours shows.
    stronger = base.replace(style_strength=base.style_strength * COLOR_STYLE_STRENGTH)
    jobs = [photo, paint[SCREAM]]
    jobs += [
        Job(mode, photo, paint[SCREAM], stronger.replace(color=mode))
        for mode in ("none", "luminance", "histogram")
    ]
    specs["color"] = SheetSpec(
        "color",
        "Colour control (Gatys et al., Preserving Color in Neural Artistic Style Transfer), "
        "Munch's The Scream",
        SCREAM,
        [jobs],
        ["Photo", "Painting", "colour: none", "luminance only", "histogram matching"],
        base=base,
        note=f"Style strength {COLOR_STYLE_STRENGTH:g}× the default for all three, so that the "
        "painting's colours show where they are let through.",
    )

    # Texture synthesis: each painting, no content.
    grid = [[paint[n] for n in PAINTINGS], []]
    for name, (short, _) in PAINTINGS.items():
        grid[1].append(Job(f"texture, {short}", None, paint[name], base))
    specs["texture"] = SheetSpec(
        "texture",
        "Texture synthesis: the style representation alone, from white noise",
        None,
        grid,
        [PAINTINGS[n][0] for n in PAINTINGS],
        ["painting", "texture"],
        base=base,
        uses_photo=False,
    )
    specs["regions"] = _regions_spec(inputs, base)
    specs["scale"] = _scale_spec(inputs, base)
    return specs


def _regions_spec(inputs: Inputs, base: Settings) -> SheetSpec:
    """Spatial control: two paintings by region, one painting with the rest kept as the photo,
    and a portrait whose face stays the photo; each beside its regions and an unmasked run."""
    from restyle.media.image import load_image

    photo, paint = inputs.photo, inputs.paintings
    sky = load_image(MASKS / "tubingen_sky.png", role="mask")
    town = load_image(MASKS / "tubingen_rest.png", role="mask")
    starry, scream = paint[STARRY], paint[SCREAM]
    plain = Job("Van Gogh, no masks", photo, starry, base)
    both = Job("sky Van Gogh, town Munch", photo, starry, base, more_styles=(scream,),
               masks=(sky, town), names=("sky", "town"))  # fmt: skip
    sky_only = Job("sky Van Gogh, town photo", photo, starry, base, masks=(sky,), names=("sky",))
    grid: list[list[Job | Image.Image | None]] = [
        [photo, region_map(photo, [sky, town]), both, plain],
        [photo, region_map(photo, [sky]), sky_only, None],
    ]
    rows = ["sky: Van Gogh\ntown: Munch", "sky: Van Gogh\ntown: the photo"]
    if inputs.portrait is not None:
        face = face_mask(inputs.portrait.size)
        grid.append([
            inputs.portrait,
            region_map(inputs.portrait, [face]),
            Job("portrait, face kept", inputs.portrait, starry, base, masks=(face,),
                names=("painted",)),
            Job("portrait, no masks", inputs.portrait, starry, base),
        ])  # fmt: skip
        rows.append("portrait: Van Gogh\nface: the photo")
    return SheetSpec(
        "regions",
        "Spatial control (Gatys et al., CVPR 2017): a painting per region, the rest the photo",
        None,
        grid,
        ["Photo", "Regions (blue: 1st painting, orange: 2nd, grey: the photo)", "Result",
         "Without masks"],
        rows,
        base=base,
        note="Masks: the sky of tests/data (tubingen_sky.png, tubingen_rest.png) and an ellipse "
        "drawn over the portrait's face and hair (tools/figures.py FACE_ELLIPSE). Captions of "
        "masked runs: each region's style distance to its own painting (1 = the photo's) and "
        "the photo region's content distance. Portrait: NASA (public domain), via scikit-image.",
    )  # fmt: skip


def _scale_spec(inputs: Inputs, base: Settings) -> SheetSpec:
    """Scale control: each painting alone, then the fine layers of one with the coarse of the
    other, both ways round."""
    photo, paint = inputs.photo, inputs.paintings
    starry, scream = paint[STARRY], paint[SCREAM]
    fine = ", ".join(base.fine_layers)
    jobs: list[Job | Image.Image | None] = [
        photo,
        Job("Van Gogh", photo, starry, base),
        Job("Munch", photo, scream, base),
        Job("fine Van Gogh, coarse Munch", photo, starry, base, coarse=scream),
        Job("fine Munch, coarse Van Gogh", photo, scream, base, coarse=starry),
    ]
    return SheetSpec(
        "scale",
        "Scale control (Gatys et al., CVPR 2017): the strokes of one painting, the large-scale "
        "structure of another",
        None,
        [jobs],
        ["Photo", "The Starry Night", "The Scream", "fine: Starry Night\ncoarse: The Scream",
         "fine: The Scream\ncoarse: Starry Night"],
        base=base,
        note=f"Fine layers ({fine}) take one painting's Gram matrices, the deeper layers the "
        "other's. Captions: content distance, then style distance to the fine / coarse "
        "painting (1 = the photo's).",
    )  # fmt: skip


SHEET_NAMES: tuple[str, ...] = (
    "fig2",
    "tradeoff",
    "content_layer",
    "init",
    "color",
    "texture",
    "regions",
    "scale",
)


# --------------------------------------------------------------------------------------------
# Running a sheet


def _run_job(job: Job) -> None:
    from restyle.api import stylize_iter

    start = time.perf_counter()
    run = stylize_iter(
        job.content,
        [job.style, *job.more_styles],
        job.settings,
        masks=list(job.masks) or None,
        coarse_style=job.coarse,
    )
    for _ in run:
        pass
    job.result = run.image()
    job.seconds = time.perf_counter() - start


def _score_jobs(jobs: Sequence[Job]) -> None:
    from restyle.metrics import Scorer

    scorers: dict[tuple[int, int, tuple[str, ...], tuple[str, ...]], Any] = {}
    for job in jobs:
        assert job.result is not None
        if job.masks:
            _score_regions(job)
            continue
        key = (
            id(job.content),
            id(job.style),
            job.settings.content_layers,
            job.settings.style_layers,
        )
        if key not in scorers:
            # Metrics at the defaults' layers, so that cells of one sheet are comparable.
            scorers[key] = Scorer(job.content, job.style)
        job.scores = scorers[key].score(job.result).to_dict()
        if job.coarse is not None:
            job.scores["style_coarse"] = Scorer(job.content, job.coarse).score(job.result).style


def _score_regions(job: Job) -> None:
    """Per-region scores of a masked job (:func:`restyle.metrics.score_regions`)."""
    from restyle.metrics import score_regions

    assert job.result is not None and job.content is not None
    regions = score_regions(
        job.result, job.content, [job.style, *job.more_styles], list(job.masks),
        names=list(job.names) or None,
    )  # fmt: skip
    job.scores = {"regions": [dataclasses.asdict(r) for r in regions]}


def _region_text(job: Job) -> str:
    """``sky: style 0.12 · photo: content 0.03`` for a masked job."""
    parts = []
    for r in job.scores.get("regions", []):
        if r.get("style") is not None:
            parts.append(f"{r['name']}: style {_fmt(r['style'], 2)}")
        else:
            parts.append(f"{r['name']}: content {_fmt(r['content'], 2)}")
    return " · ".join(parts)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}f}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.3g}"
    return str(x)


def _caption(job: Job) -> str:
    s = job.scores
    if "regions" in s:
        return _region_text(job)
    if s.get("style_coarse") is not None:
        return (
            f"content {_fmt(s['content'], 2)} · style {_fmt(s['style'], 2)} / "
            f"{_fmt(s['style_coarse'], 2)}"
        )
    if s.get("content") is not None:
        return f"content {_fmt(s['content'], 2)} · style {_fmt(s['style'], 2)}"
    return f"colour to painting {_fmt(s['color_to_style'], 1)}"


_SHOWN_SETTINGS = (
    "size",
    "iterations",
    "content_weight",
    "style_weight",
    "reference_pixels",
    "style_strength",
    "content_layers",
    "style_layers",
    "init",
    "seed",
    "color",
    "optimizer",
    "pooling",
    "multiscale",
    "min_scale",
    "tolerance",
    "tv_weight",
    "weights",
)


def _setting_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _diff(s: Settings, base: Settings) -> str:
    changed = [
        f"{name}={_setting_text(getattr(s, name))}"
        for name in _SHOWN_SETTINGS
        if hasattr(s, name) and getattr(s, name) != getattr(base, name)
    ]
    return "; ".join(changed) or "(shared settings)"


def write_table(
    path: Path,
    spec: SheetSpec,
    jobs: Sequence[Job],
    seconds: float,
    cpu_seconds: float,
    command: str,
) -> None:
    """``NAME.md``: how the sheet was made and the metrics of every generated cell."""
    from restyle import __version__
    from restyle.metrics import EVAL_SIZE

    base = spec.base
    lines = [
        f"# {spec.name}: {spec.title}",
        "",
        f"![{spec.name}]({spec.name}.jpg)",
        "",
        f"Made by `{command}` with restyle {__version__}: {len(jobs)} runs, "
        f"{seconds:.0f} s wall-clock time in all ({cpu_seconds:.0f} s of CPU time) on the "
        "machine that made it (see gallery.md).",
        "",
    ]
    if spec.uses_photo:
        lines += [f"Content photo: {TUBINGEN_CREDIT}. {PAINTINGS_CREDIT}", ""]
    else:
        lines += [PAINTINGS_CREDIT, ""]
    if spec.note:
        lines += [spec.note, ""]
    lines += ["Settings shared by every cell (all others are the library defaults):", ""]
    lines += ["| setting | value |", "|---|---|"]
    for name in _SHOWN_SETTINGS:
        if hasattr(base, name):
            lines.append(f"| {name} | {_setting_text(getattr(base, name))} |")
    lines += [f"| alpha/beta | {base.alpha / base.beta:g} |" if base.beta else "", ""]
    lines += [
        "Metrics (`restyle.metrics`, evaluated at "
        f"{EVAL_SIZE} px with the default layers): content and style are relative distances "
        "(content 0 = the photo's features, 1 = as far as the painting; style 1 = as far as the "
        "photo's Gram matrices, 0 = the painting's), colour distances are sliced Wasserstein "
        "distances in Lab units; in brackets, the photo's own colour distance to the painting.",
        "",
        "| cell | settings that differ | content ↓ | style ↓ | colour to painting "
        "(the photo's) | colour to photo | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for job in jobs:
        s = job.scores
        if "regions" in s:
            lines.append(f"| {job.label} | per region: {_region_text(job)} | | | | | "
                         f"{job.seconds:.0f} |")  # fmt: skip
            continue
        to_style = _fmt(s.get("color_to_style"), 1)
        if s.get("color_reference") is not None:
            to_style += f" ({_fmt(s['color_reference'], 1)})"
        lines.append(
            f"| {job.label} | {_diff(job.settings, base)} | {_fmt(s.get('content'))} | "
            f"{_fmt(s.get('style'))} | {to_style} | "
            f"{_fmt(s.get('color_to_content'), 1)} | {job.seconds:.0f} |"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_sheet(
    spec: SheetSpec,
    inputs: Inputs,
    out_dir: Path,
    command: str,
    log: Callable[[str], None],
) -> SheetResult:
    """Run every job of ``spec``, score them, draw the sheet and write it with its table."""
    from restyle import __version__
    from restyle.media.image import save_image

    start, cpu_start = time.perf_counter(), time.process_time()
    jobs = [c for row in spec.grid for c in row if isinstance(c, Job)]
    for i, job in enumerate(jobs, start=1):
        _run_job(job)
        log(f"figures: {spec.name} {i}/{len(jobs)} {job.label}: {job.seconds:.0f} s")
    _score_jobs(jobs)
    images: list[list[Image.Image | None]] = []
    captions: list[list[str]] = []
    for row in spec.grid:
        images.append([])
        captions.append([])
        for c in row:
            if isinstance(c, Job):
                assert c.result is not None
                im = c.result
                if spec.name == "fig2":
                    im = with_inset(im, c.style)
                images[-1].append(im)
                captions[-1].append(_caption(c))
            else:
                images[-1].append(c)
                captions[-1].append("")
    if spec.post is not None:
        images = spec.post(images)
        captions = captions + [[""] * len(r) for r in images[len(captions) :]]
    cell = _cell_size([j.result for j in jobs if j.result is not None])
    notes = []
    if spec.uses_photo:
        notes.append(f"Photo: {TUBINGEN_CREDIT}. {PAINTINGS_CREDIT}")
    else:
        notes.append(PAINTINGS_CREDIT)
    b = spec.base
    how = "coarse to fine" if b.multiscale else "at full size"
    if spec.uses_photo:
        setup = f"α/β = {_num(b.alpha / b.beta)} and init {b.init} (defaults) unless labelled"
        caption = "content distance (0 = the photo's) and style distance (1 = the photo's)"
    else:
        setup = "from white noise, no content term"
        caption = "colour distance to the painting in Lab units"
    notes.append(
        f"restyle {__version__}, {b.size} px, {b.iterations} {b.optimizer} steps {how}, "
        f"{setup}. Captions: {caption} (restyle.metrics). Settings and metrics: {spec.name}.md"
    )
    if spec.note:
        notes.append(spec.note)
    sheet = contact_sheet(
        images,
        title=spec.title,
        columns=spec.columns,
        rows=spec.rows,
        captions=captions,
        notes=notes,
        cell_size=cell,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    image_path = out_dir / f"{spec.name}.jpg"
    save_image(sheet, image_path, quality=JPEG_QUALITY, metadata={"Software": "restyle figures"})
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    table_path = out_dir / f"{spec.name}.md"
    write_table(table_path, spec, jobs, seconds, cpu_seconds, command)
    return SheetResult(spec.name, image_path, table_path, seconds, cpu_seconds, len(jobs))


def _cell_size(results: Sequence[Image.Image]) -> tuple[int, int]:
    """The box of a sheet's cells: large enough for every generated image at its own size
    (the inputs, photo and paintings, are scaled to fit into it)."""
    return max(16, max(im.width for im in results)), max(16, max(im.height for im in results))


# --------------------------------------------------------------------------------------------
# The command


def main(argv: Sequence[str], stderr: IO[str]) -> int:
    """``python tools/figures.py [--out-dir DIR] [--size N] [--iterations N] [--only NAME]``."""
    from restyle.cli import Parser

    p = Parser(
        prog="python tools/figures.py",
        description="Regenerate the paper's figures as labelled contact sheets (JPEG) with a "
        "table of settings and metrics beside each (NAME.md).",
    )
    p.add_argument(
        "--out-dir", default=os.path.join("docs", "figures"), help="(default docs/figures)"
    )
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"longest side of each image in px (default {DEFAULT_SIZE})",
    )
    p.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"steps per image (default {DEFAULT_ITERATIONS})",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=SHEET_NAMES,
        metavar="NAME",
        help=f"make only this sheet (repeatable): {', '.join(SHEET_NAMES)}",
    )
    p.add_argument(
        "--images", metavar="DIR", help="example-image folder (default ../shared/images)"
    )
    args = p.parse_args(argv)
    base = Settings().replace(size=args.size, iterations=args.iterations)
    folder = find_images(args.images)
    inputs = load_inputs(folder)
    specs = build_specs(inputs, base)
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RestyleError(f"--out-dir is not a folder: {out_dir}")
    names = args.only or list(SHEET_NAMES)

    def log(msg: str) -> None:
        print(msg, file=stderr, flush=True)

    total, cpu_total = time.perf_counter(), time.process_time()
    for name in dict.fromkeys(names):
        command = (
            f"python tools/figures.py --only {name} --size {args.size} "
            f"--iterations {args.iterations}"
        )
        r = make_sheet(specs[name], inputs, out_dir, command, log)
        log(
            f"figures: {name}: {r.runs} runs in {r.seconds:.0f} s "
            f"({r.cpu_seconds:.0f} s CPU) -> {r.image_path} "
            f"({r.image_path.stat().st_size // 1024} KB), {r.table_path}"
        )
    log(
        f"figures: all done in {time.perf_counter() - total:.0f} s "
        f"({time.process_time() - cpu_total:.0f} s CPU)"
    )
    return 0


__all__ = [
    "DEFAULT_ITERATIONS",
    "DEFAULT_SIZE",
    "SHEET_NAMES",
    "build_specs",
    "contact_sheet",
    "detail",
    "fit",
    "main",
    "with_inset",
    "wrap",
]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(guarded(main, sys.argv[1:], sys.stderr))
