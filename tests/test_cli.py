"""The command line, in process through main(argv), on the tiny network."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from restyle.cli import main
from restyle.media.examples import EXAMPLE_PAINTING, EXAMPLE_PHOTO
from restyle.media.image import read_metadata

pytestmark = pytest.mark.usefixtures("use_tiny_net")

FAST = ["--size", "32", "-n", "6", "-q"]


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    code = main(argv, stderr=err)
    return code, err.getvalue()


def test_stylise_writes_image_with_settings(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    code, err = run([str(images["content"]), str(images["style"]), "-o", str(out), *FAST])
    assert code == 0, err
    with Image.open(out) as im:
        assert im.size == (32, 21) and im.mode == "RGB"
    info = json.loads(read_metadata(out)["restyle"])
    assert info["settings"]["size"] == 32 and info["content"] == str(images["content"])


def test_several_styles_texture_and_formats(images: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "blend.jpg"
    code, err = run(
        [
            str(images["content"]),
            str(images["style"]),
            str(images["style2"]),
            "--style-blend",
            "0.7,0.3",
            "-o",
            str(out),
            *FAST,
        ]
    )
    assert code == 0, err
    assert json.loads(read_metadata(out)["restyle"])["settings"]["style_blend"] == [0.7, 0.3]
    tex = tmp_path / "tex.webp"
    code, err = run(
        [
            "--texture",
            str(images["style"]),
            "--width",
            "40",
            "--height",
            "24",
            "-o",
            str(tex),
            *FAST[2:],
        ]
    )
    assert code == 0, err
    with Image.open(tex) as im:
        assert im.size == (40, 24)


def test_json_log_has_a_line_per_step(images: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    code, _ = run(
        [
            str(images["content"]),
            str(images["style"]),
            "-o",
            str(tmp_path / "o.png"),
            "--log-json",
            str(log),
            *FAST,
        ]
    )
    assert code == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == lines[-1]["total_steps"] and lines[-1]["done"]
    assert {"total", "content", "style", "tv"} <= set(lines[0]["losses"])


def _one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("restyle") and "error" in last and needle in last
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--size", "0"], "size"),
        (["--size", "abc"], "invalid int"),
        (["--style-layers", "relu1_1,relu9_1"], "relu9_1"),
        (["--color", "purple"], "invalid choice"),
        (["--style-blend", "1,2,3"], "blend"),
        (["--iterations", "-3"], "iterations"),
        (["--device", "tpu"], "device"),
        (["--init", "/nonexistent/init.png"], "not found"),
    ],
)
def test_bad_options(
    images: dict[str, Path], tmp_path: Path, extra: list[str], needle: str
) -> None:
    code, err = run(
        [str(images["content"]), str(images["style"]), "-o", str(tmp_path / "o.png"), *extra]
    )
    _one_line_error(code, err, needle)
    assert not (tmp_path / "o.png").exists()


def test_bad_files(images: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    cases = [
        (
            [str(tmp_path / "missing.jpg"), str(images["style"]), "-o", str(tmp_path / "o.png")],
            "not found",
        ),
        ([str(text), str(images["style"]), "-o", str(tmp_path / "o.png")], "notes.jpg"),
        ([str(images["content"]), str(images["style"]), "-o", str(images["content"])], "same"),
        (
            [str(images["content"]), str(images["style"]), "-o", str(tmp_path / "no" / "o.png")],
            "folder",
        ),
        ([str(images["content"]), str(images["style"]), "-o", str(tmp_path / "o.gif")], "gif"),
        ([str(images["content"]), "-o", str(tmp_path / "o.png")], "style"),
    ]
    before = images["content"].read_bytes()
    for argv, needle in cases:
        code, err = run(argv)
        _one_line_error(code, err, needle)
    assert images["content"].read_bytes() == before


def test_interrupt_keeps_the_latest_image(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restyle.cli import progress

    calls = {"n": 0}
    real = progress.ProgressReporter.update

    def interrupt_on_third(self: progress.ProgressReporter, p: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(self, p)  # type: ignore[arg-type]

    monkeypatch.setattr(progress.ProgressReporter, "update", interrupt_on_third)
    out = tmp_path / "o.png"
    code, err = run([str(images["content"]), str(images["style"]), "-o", str(out), *FAST])
    assert code == 130 and "saved the latest image" in err
    with Image.open(out) as im:
        assert im.size == (32, 21)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_help_and_example_help() -> None:
    code, _ = run(["--help"])
    assert code == 0
    code, _ = run(["example", "--help"])
    assert code == 0


def test_example_runs_offline(tmp_path: Path) -> None:
    out = tmp_path / "example.png"
    code, err = run(["example", "-o", str(out), *FAST])
    assert code == 0, err
    info = json.loads(read_metadata(out)["restyle"])
    assert info["content"] == f"skimage.data.{EXAMPLE_PHOTO}"
    assert info["styles"] == [EXAMPLE_PAINTING]
    code, err = run(["example", "-o", str(out), "--style", "Kandinsky", *FAST])
    assert code == 0, err
    assert json.loads(read_metadata(out)["restyle"])["styles"] == ["composition-vii"]
    code, err = run(["example", "-o", str(out), "--style", "picasso", *FAST])
    assert code == 2 and "picasso" in err and "starry-night" in err


def test_a_style_heavy_run_says_it_runs_at_one_scale(
    images: dict[str, Path], tmp_path: Path
) -> None:
    # The tiny test network weighs the style thousands of times over the content: one scale.
    out = tmp_path / "out.png"
    argv = [str(images["content"]), str(images["style"]), "-o", str(out), "--size", "64"]
    code, err = run([*argv, "-n", "4", "--min-scale", "16"])
    assert code == 0, err
    assert "outweighs the content" in err and "one scale, every step at 64x43" in err
    assert "scale 1/1" in err
