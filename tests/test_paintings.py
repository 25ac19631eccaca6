"""The built-in paintings: names, the package data, ``restyle styles`` and styles by name."""

from __future__ import annotations

import importlib.resources
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from restyle import RestyleError, stylize
from restyle.cli import main
from restyle.media.image import read_metadata
from restyle.media.paintings import (
    DATA_FOLDER,
    PAINTINGS,
    find_painting,
    get_painting,
    load_painting,
    painting_names,
    resolve_style,
)

from .conftest import painting, photo

NAMES = ["shipwreck", "starry-night", "the-scream", "composition-vii"]
FAST = ["--size", "32", "-n", "4", "-q"]
ROOT = Path(__file__).resolve().parents[1]


def _folder() -> importlib.resources.abc.Traversable:
    return importlib.resources.files("restyle").joinpath(*DATA_FOLDER)


def test_the_four_paintings_of_figure_2_by_name() -> None:
    assert painting_names() == NAMES
    for p in PAINTINGS:
        assert find_painting(p.name) is p
        for alias in p.aliases:
            assert find_painting(alias) is p
        assert p.title and p.artist and p.year and p.description
        assert "\n" not in p.description and p.label.startswith(p.title)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("Starry_Night", "starry-night"),
        ("the starry night", "starry-night"),
        ("VAN-GOGH", "starry-night"),
        ("scream", "the-scream"),
        ("  composition_vii ", "composition-vii"),
        ("kandinsky", "composition-vii"),
        ("turner", "shipwreck"),
    ],
)
def test_names_are_forgiving_about_case_underscores_and_spaces(given: str, name: str) -> None:
    found = find_painting(given)
    assert found is not None and found.name == name


def test_unknown_names() -> None:
    for name in ["", "starry", "starry-night.jpg", "picasso", "../starry-night"]:
        assert find_painting(name) is None
    with pytest.raises(RestyleError) as info:
        get_painting("picasso")
    msg = str(info.value)
    assert "\n" not in msg and "picasso" in msg and all(n in msg for n in NAMES)


def test_package_data_is_present_small_and_credited() -> None:
    folder = _folder()
    total = 0
    for p in PAINTINGS:
        ref = folder.joinpath(p.file)
        assert ref.is_file(), p.file
        data = ref.read_bytes()
        total += len(data)
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            assert 640 <= max(im.size) <= 1024, (p.file, im.size)
    assert total < 800_000, total  # well under 1 MB for the four
    names = {ref.name for ref in folder.iterdir()}
    assert names == {p.file for p in PAINTINGS} | {"SOURCES.md"}
    sources = folder.joinpath("SOURCES.md").read_text(encoding="utf-8")
    assert "public domain" in sources.lower()
    for p in PAINTINGS:
        assert p.title in sources and p.file in sources


def test_pyproject_ships_the_paintings() -> None:
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        globs = tomllib.load(f)["tool"]["setuptools"]["package-data"]["restyle"]
    assert "/".join(DATA_FOLDER) + "/*" in globs


def test_load_painting_reads_an_rgb_image() -> None:
    img = load_painting("the-scream")
    assert img.mode == "RGB" and img.height > img.width  # the one portrait painting
    assert load_painting("Starry Night").size == load_painting("starry-night").size


def test_resolve_style_loads_files_names_images_and_arrays(tmp_path: Path) -> None:
    path = tmp_path / "art.png"
    painting(20, 10).save(path)
    assert resolve_style(path).size == (20, 10)
    assert resolve_style(str(path)).size == (20, 10)
    assert resolve_style(painting(12, 8)).size == (12, 8)
    assert resolve_style(load_painting("shipwreck")).size == load_painting("shipwreck").size
    assert resolve_style("starry-night").size == load_painting("starry-night").size


def test_a_file_named_like_a_built_in_painting_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    painting(20, 10).save(tmp_path / "starry-night", format="PNG")
    assert resolve_style("starry-night").size == (20, 10)
    assert resolve_style(Path("starry-night")).size == (20, 10)
    # not a file: a folder of that name does not hide the painting
    (tmp_path / "the-scream").mkdir()
    assert resolve_style("the-scream").size == load_painting("the-scream").size


def test_a_string_that_is_neither_lists_the_built_in_paintings(tmp_path: Path) -> None:
    for source in ["picasso", str(tmp_path / "missing.jpg")]:
        with pytest.raises(RestyleError) as info:
            resolve_style(source, role="style image 2")
        msg = str(info.value)
        assert msg.startswith("style image 2 not found: ") and "\n" not in msg
        assert all(n in msg for n in NAMES)
    (tmp_path / "notes.jpg").write_text("not an image")  # a file that is not an image
    with pytest.raises(RestyleError, match=r"notes\.jpg") as info:
        resolve_style(tmp_path / "notes.jpg")
    assert "starry-night" not in str(info.value)


@pytest.mark.usefixtures("use_tiny_net")
def test_the_api_accepts_names() -> None:
    out = stylize(photo(), "starry-night", size=32, iterations=2)
    assert out.size == (32, 21)
    out = stylize(photo(), ["the-scream", painting()], size=32, iterations=2)
    assert out.size == (32, 21)
    with pytest.raises(RestyleError, match=r"style image 2 not found: nope .*starry-night"):
        stylize(photo(), [painting(), "nope"], size=32, iterations=2)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    return main(argv, stderr=err), err.getvalue()


@pytest.mark.usefixtures("use_tiny_net")
def test_cli_takes_a_painting_by_name_and_records_the_name(tmp_path: Path) -> None:
    photo().save(tmp_path / "photo.png")
    out = tmp_path / "out.png"
    code, err = _run([str(tmp_path / "photo.png"), "starry-night", "-o", str(out), *FAST])
    assert code == 0, err
    info = json.loads(read_metadata(out)["restyle"])
    assert info["styles"] == ["starry-night"]
    code, err = _run([str(tmp_path / "photo.png"), "picasso", "-o", str(out), *FAST])
    assert code == 2 and err.count("\n") == 1 and "picasso" in err
    assert all(n in err for n in NAMES)


def test_restyle_styles_lists_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["styles"])
    assert code == 0 and err == ""
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    for line, p in zip(lines, PAINTINGS, strict=True):
        assert p.title in line and p.artist in line and p.description in line
    code, _ = _run(["styles", "--help"])
    assert code == 0
    code, err = _run(["styles", "--bogus"])
    assert code == 2


def test_importing_the_catalogue_reads_no_file_and_no_skimage() -> None:
    code = (
        "import sys, builtins\n"
        "opened = []\n"
        "real = builtins.open\n"
        "builtins.open = lambda f, *a, **k: (opened.append(str(f)), real(f, *a, **k))[1]\n"
        "import restyle.media.paintings, restyle.media.examples, restyle.cli.styles\n"
        "assert 'skimage' not in sys.modules\n"
        "assert not [f for f in opened if f.endswith('.jpg')], opened\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
