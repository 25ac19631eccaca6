"""Quality metrics (restyle.metrics) and the ``restyle score`` command.

The direction test makes a real (tiny) stylisation with the bundled VGG19 weights; the other
tests score synthetic images, which costs a few network passes at 64 px.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restyle import Settings, stylize
from restyle.cli import main
from restyle.media.examples import example_images
from restyle.metrics import (
    Scorer,
    Scores,
    color_distance,
    content_distance,
    score,
    style_distances,
)

SIZE = 64


def _image(width: int, height: int, seed: int) -> Image.Image:
    """Smooth random colour field plus fine noise: something with structure at every scale."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    noise = rng.normal(0, 20, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return _image(SIZE, 48, seed=1)


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return _image(SIZE, 48, seed=2)


# ----- definitions ------------------------------------------------------------------------


def test_distance_functions_are_zero_for_identical_inputs() -> None:
    f = {"relu4_2": torch.rand(1, 8, 5, 7)}
    assert content_distance(f, f) == 0.0
    g = {"relu1_1": torch.rand(8, 8), "relu2_1": torch.rand(4, 4)}
    assert style_distances(g, g) == {"relu1_1": 0.0, "relu2_1": 0.0}
    img = _image(40, 30, seed=3)
    assert color_distance(img, img) == 0.0
    assert color_distance(img, img.copy()) == 0.0


def test_color_distance_is_in_lab_units_and_symmetric() -> None:
    black = Image.new("RGB", (16, 16), (0, 0, 0))
    white = Image.new("RGB", (16, 16), (255, 255, 255))
    d = color_distance(black, white)
    # Only L differs, by 100; the projections onto random unit directions shrink it.
    assert 20 < d <= 100
    assert color_distance(white, black) == pytest.approx(d)
    # Size does not matter, only the distribution of colours.
    assert color_distance(black, white.resize((64, 8))) == pytest.approx(d)


def test_photo_scores_zero_content_and_unit_style(
    photo: Image.Image, painting: Image.Image
) -> None:
    s = score(photo, photo, painting, size=SIZE)
    assert s.size == (64, 48)
    assert s.content == 0.0
    assert s.color_to_content == 0.0
    assert s.style == pytest.approx(1.0)
    assert s.style_per_layer is not None
    assert all(v == pytest.approx(1.0) for v in s.style_per_layer.values())
    assert s.color_to_style == pytest.approx(s.color_reference)
    assert s.content_layers == Settings().content_layers
    assert s.style_layers == Settings().style_layers


def test_painting_scores_zero_style_and_unit_content(
    photo: Image.Image, painting: Image.Image
) -> None:
    s = score(painting, photo, painting, size=SIZE)
    assert s.style == 0.0
    assert s.style_abs == 0.0
    assert s.color_to_style == 0.0
    assert s.content == pytest.approx(1.0)
    assert s.color_to_content == pytest.approx(s.color_reference)


def test_scores_to_dict_is_json(photo: Image.Image, painting: Image.Image) -> None:
    s = score(photo, photo, painting, size=SIZE, style_layers=["relu1_1", "relu3_1"])
    d = json.loads(json.dumps(s.to_dict()))
    assert d["style_layers"] == ["relu1_1", "relu3_1"]
    assert set(d["style_per_layer"]) == {"relu1_1", "relu3_1"}
    assert d["size"] == [64, 48]


def test_texture_has_no_relative_scores(painting: Image.Image) -> None:
    s = Scorer(None, painting, size=SIZE).score(painting)
    assert isinstance(s, Scores)
    assert s.content is None and s.style is None and s.color_to_content is None
    assert s.style_abs == 0.0


# ----- the metrics move the right way on a real run ----------------------------------------


@pytest.mark.slow
def test_stylised_result_is_closer_in_style_and_farther_in_content() -> None:
    """Real runs with the bundled VGG19 at 64 px, with the default weights and with 100 times
    more weight on style: both move from the photo towards the painting, the second further."""
    content, style = example_images()
    scorer = Scorer(content, style, size=SIZE)
    photo_scores = scorer.score(content)
    assert photo_scores.content == 0.0 and photo_scores.style == pytest.approx(1.0)
    default = scorer.score(stylize(content, style, size=SIZE, iterations=15))
    strong = scorer.score(stylize(content, style, size=SIZE, iterations=15, style_strength=100.0))
    for s in (default, strong):
        assert s.content is not None and s.style is not None
        assert 0.0 < s.content < 1.0  # moved from the photo, still nearer to it than the painting
        assert s.style < 0.99  # nearer to the painting's Gram matrices than the photo is
        assert math.isfinite(s.color_to_style)
    assert strong.content > default.content
    assert strong.style < default.style


# ----- the command --------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path, photo: Image.Image, painting: Image.Image) -> dict[str, str]:
    paths = {"photo": tmp_path / "photo.png", "painting": tmp_path / "painting.png"}
    photo.save(paths["photo"])
    painting.save(paths["painting"])
    return {k: str(v) for k, v in paths.items()}


def test_score_command_prints_a_table(
    files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = io.StringIO()
    argv = ["score", files["photo"], "--content", files["photo"], "--style", files["painting"]]
    status = main([*argv, "--size", str(SIZE)], stderr=err)
    assert status == 0, err.getvalue()
    out = capsys.readouterr().out
    assert "content distance" in out and "style distance" in out
    assert "colour distance to painting" in out
    for layer in Settings().style_layers:
        assert layer in out


def test_score_command_json(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "score",
            files["painting"],
            "--content",
            files["photo"],
            "--style",
            files["painting"],
            "--style",
            files["painting"],
            "--size",
            str(SIZE),
            "--json",
        ],
        stderr=io.StringIO(),
    )
    assert status == 0
    d = json.loads(capsys.readouterr().out)
    assert d["style"] == 0.0
    assert d["content"] == pytest.approx(1.0)
    assert len(d["styles"]) == 2


def test_score_command_missing_file_is_one_line_error(
    files: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = io.StringIO()
    missing = str(tmp_path / "nope.png")
    status = main(
        ["score", missing, "--content", files["photo"], "--style", files["painting"]], stderr=err
    )
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert "not found" in lines[0] and "nope.png" in lines[0]
    assert capsys.readouterr().out == ""


def test_score_command_usage_errors(files: dict[str, str]) -> None:
    err = io.StringIO()
    assert main(["score", files["photo"]], stderr=err) == 2  # --style is required
    err = io.StringIO()
    status = main(
        ["score", files["photo"], "--style", files["painting"], "--style-layers", "relu9_9"],
        stderr=err,
    )
    assert status == 2
    assert "unknown layer" in err.getvalue()
    assert len(err.getvalue().strip().splitlines()) == 1
