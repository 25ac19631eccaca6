"""The contact-sheet layout of ``tools/figures.py`` (no style-transfer runs here)."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tools.figures import (
    INIT_STEPS_FACTOR,
    PAINTINGS,
    SHEET_NAMES,
    Inputs,
    Job,
    build_specs,
    contact_sheet,
    detail,
    fit,
    font,
    main,
    tradeoff_ratios,
    with_inset,
    wrap,
)

from restyle import Settings
from restyle.cli import guarded


def _solid(w: int, h: int, rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (w, h), rgb)


def test_contact_sheet_places_cells_and_labels() -> None:
    red, green, blue = (220, 0, 0), (0, 200, 0), (0, 0, 230)
    cells: list[list[Image.Image | None]] = [
        [_solid(40, 30, red), _solid(40, 30, green), None],
        [_solid(40, 30, blue), _solid(20, 30, red), _solid(40, 30, green)],
    ]
    sheet = contact_sheet(
        cells,
        title="A title",
        columns=["one", "two", "three"],
        rows=["first row", "second row"],
        captions=[["a", "b", ""], ["c", "d", "e"]],
        notes=["a note that is long enough to be wrapped onto more than one line " * 3],
        cell_size=(40, 30),
        row_header_width=80,
    )
    assert sheet.mode == "RGB"
    # Width: padding, the row-header column and three cells with padding after each.
    assert sheet.width == 10 + 80 + 3 * (40 + 10)
    assert sheet.height > 2 * 30 + 50  # cells plus title, headers, captions and notes
    a = np.asarray(sheet).astype(int)
    colours = {tuple(a[y, x]) for y in range(a.shape[0]) for x in range(0, a.shape[1], 3)}

    def has(rgb: tuple[int, int, int]) -> bool:
        return any(sum(abs(c - r) for c, r in zip(col, rgb, strict=True)) < 30 for col in colours)

    assert has(red) and has(green) and has(blue)
    assert has((255, 255, 255))  # background, and the empty cell
    dark = (a.sum(axis=2) < 150).sum()
    assert dark > 100  # text was drawn


def test_contact_sheet_without_headers_and_checks_shapes() -> None:
    sheet = contact_sheet([[_solid(32, 24, (9, 9, 9))]], title="t")
    assert sheet.width == 10 + 32 + 10
    with pytest.raises(ValueError):
        contact_sheet([[_solid(8, 8, (0, 0, 0))]], title="t", columns=["a", "b"])
    with pytest.raises(ValueError):
        contact_sheet([[_solid(8, 8, (0, 0, 0))]], title="t", rows=["a", "b"])
    with pytest.raises(ValueError):
        contact_sheet([], title="t")


def test_text_and_image_helpers() -> None:
    f = font(14)
    lines = wrap("one two three four five six seven eight nine ten", f, 60)
    assert len(lines) > 1 and " ".join(lines) == "one two three four five six seven eight nine ten"
    assert wrap("a\nb", f, 500) == ["a", "b"]
    assert fit(_solid(200, 100, (0, 0, 0)), (50, 50)).size == (50, 25)
    base, thumb = _solid(90, 60, (0, 0, 255)), _solid(40, 40, (255, 0, 0))
    inset = with_inset(base, thumb)
    assert inset.size == base.size
    assert inset.getpixel((5, 55)) == (255, 0, 0)  # bottom left: the thumbnail
    assert inset.getpixel((85, 5)) == (0, 0, 255)  # elsewhere: unchanged
    grad = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8)[None, :, None], (32, 1, 3)))
    d = detail(grad, 2.0)
    assert d.size == grad.size
    left, right = d.getpixel((0, 16)), d.getpixel((63, 16))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[0] >= 10 and right[0] <= 54  # the middle half, stretched


def test_specs_cover_every_sheet_with_default_derived_settings() -> None:
    photo = _solid(40, 30, (100, 120, 140))
    inputs = Inputs(Path("."), photo, {name: _solid(30, 40, (200, 90, 10)) for name in PAINTINGS})
    base = Settings().replace(size=64, iterations=3)
    specs = build_specs(inputs, base)
    assert tuple(specs) == SHEET_NAMES
    jobs = {n: [c for row in s.grid for c in row if isinstance(c, Job)] for n, s in specs.items()}
    # regions: two paintings, one with the photo, no masks (no portrait given); scale: two
    # paintings alone and both ways round
    assert [len(jobs[n]) for n in SHEET_NAMES] == [4, 20, 2, 5, 3, 4, 3, 4]
    both, plain, sky_only = jobs["regions"]
    assert not plain.masks
    assert len(both.masks) == 2 and len(both.more_styles) == 1 and len(sky_only.masks) == 1
    assert [j.coarse is not None for j in jobs["scale"]] == [False, False, True, True]
    with_portrait = build_specs(dataclasses.replace(inputs, portrait=photo), base)
    face = next(j for j in with_portrait["regions"].grid[-1] if isinstance(j, Job))
    m = face.masks[0]
    assert m.size == photo.size and m.getpixel((20, 2)) < 128 < m.getpixel((1, 28))
    ratios = tradeoff_ratios(base)
    assert len(ratios) == 4 and ratios == sorted(ratios)
    assert ratios[2] == pytest.approx(base.alpha / base.beta)  # the default, third column
    got = {round(math.log10(j.settings.alpha / j.settings.beta), 6) for j in jobs["tradeoff"]}
    assert sorted(got) == [round(math.log10(r), 6) for r in ratios]
    assert {j.settings.style_layers[-1] for j in jobs["tradeoff"]} == {
        "relu1_1",
        "relu2_1",
        "relu3_1",
        "relu4_1",
        "relu5_1",
    }
    assert {j.settings.color for j in jobs["color"]} == {"none", "luminance", "histogram"}
    assert all(j.content is None for j in jobs["texture"])
    assert all(j.settings.size == 64 for v in jobs.values() for j in v)
    # every start of the initialisation sheet gets the same, longer budget; the rest the base's
    assert {j.settings.iterations for j in jobs["init"]} == {3 * INIT_STEPS_FACTOR}
    assert all(j.settings.iterations == 3 for n, v in jobs.items() if n != "init" for j in v)
    # the colour modes are compared at one (stronger) style strength
    assert len({j.settings.style_strength for j in jobs["color"]}) == 1


def test_figures_command_reports_missing_images(tmp_path: Path) -> None:
    err = io.StringIO()
    status = guarded(main, ["--images", str(tmp_path), "--out-dir", str(tmp_path)], err)
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "tubingen.jpg" in lines[0]
