"""The per-style transformer: its network, the model file (good, truncated, foreign, pickled
code), a tiny training run (tiny VGG, 32 px) that lowers its loss, resume, and ``apply``."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import pickle
from pathlib import Path

import pytest
import torch

from restyle.cli import main
from restyle.config import Settings
from restyle.errors import RestyleError
from restyle.media.image import read_metadata
from restyle.net.transformer import TransformerConfig, TransformerNet
from restyle.tasks.apply import open_model
from restyle.tasks.train import Trainer, TrainOptions, load_model, photo_files, save_model

from .conftest import image_size, painting, photo

TINY = TrainOptions(size=32, batch_size=2, steps=20, learning_rate=5e-3, widths=(4, 8, 8),
                    blocks=1, checkpoint_every=10, warmup=0)  # fmt: skip


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    code = main(argv, stderr=err)
    return code, err.getvalue()


def test_network_any_size_and_range() -> None:
    net = TransformerNet(TransformerConfig(widths=(4, 8, 8), blocks=1))
    with torch.no_grad():
        y = net(torch.rand(2, 3, 37, 18))
    assert y.shape == (2, 3, 37, 18) and float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(ValueError, match="at least"):
        net(torch.rand(1, 3, 8, 40))
    with pytest.raises(ValueError, match="widths"):
        TransformerConfig(widths=(4, 8))  # type: ignore[arg-type]


def test_model_file_round_trip(tmp_path: Path) -> None:
    net = TransformerNet(TransformerConfig(widths=(4, 8, 8), blocks=2))
    path = tmp_path / "m.pt"
    save_model(path, net, {"style": "x"})
    loaded = load_model(path)
    assert loaded.info["style"] == "x" and loaded.info["config"]["blocks"] == 2
    assert loaded.state == {}
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(loaded.net(x), net.eval()(x))
    # written like any other file of the user's: permissions follow the umask, not 0600
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_bad_model_files(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_model(good, TransformerNet(TransformerConfig(widths=(4, 8, 8), blocks=1)), {})
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"conv.weight": torch.zeros(3)}, foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    pickled = tmp_path / "pickled.pt"
    pickled.write_bytes(pickle.dumps({"format": "restyle-transformer", "x": Evil()}))
    pickled_torch = tmp_path / "pickled_torch.pt"
    torch.save({"format": "restyle-transformer", "info": Evil()}, pickled_torch)
    bad_weights = tmp_path / "bad_weights.pt"
    torch.save({"format": "restyle-transformer", "info": "{}", "weights": {}}, bad_weights)
    cases = {
        truncated: "truncated",
        foreign: "another kind",
        text: "truncated",
        pickled: "Python objects",
        pickled_torch: "Python objects",
        bad_weights: "damaged",
        tmp_path / "missing.pt": "does not exist",
    }
    for path, words in cases.items():
        with pytest.raises(RestyleError, match=words) as e:
            load_model(path)
        assert "\n" not in str(e.value)
    assert not marker.exists()
    code, err = run(["apply", str(pickled), str(good), "-o", str(tmp_path / "o.png")])
    assert code == 2 and err.count("\n") == 1 and "Python objects" in err


def test_package_photos_are_found() -> None:
    names = {p.name for p in photo_files()}
    assert {"astronaut.png", "coffee.png"} <= names  # scikit-image is a dependency


@pytest.mark.usefixtures("use_tiny_net")
def test_tiny_training_lowers_the_loss_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    photos = [photo(48, 40, seed=s) for s in range(3)]
    trainer = Trainer(painting(), photos, Settings(), TINY, out, style_name="stripes")
    progress = list(trainer)
    totals = [p.losses["total"] for p in progress]
    assert len(totals) == 20 and progress[-1].done and progress[9].saved
    assert sum(totals[-5:]) < 0.7 * sum(totals[:5])
    loaded = load_model(out)
    assert loaded.info["step"] == 20 and loaded.info["style"] == "stripes"
    assert "optimizer" in loaded.state
    # Resume: 5 more steps from the file's own state.
    more = Trainer(painting(), photos, Settings(), TrainOptions(steps=25), out, resume=True)
    assert more.step == 20 and more.options.size == 32
    assert [p.step for p in more] == [21, 22, 23, 24, 25]
    assert load_model(out).info["step"] == 25


@pytest.mark.usefixtures("use_tiny_net")
def test_train_and_apply_commands(images: dict[str, Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for s in range(2):
        photo(48, 40, seed=s).save(photos / f"p{s}.png")
    model = tmp_path / "m.pt"
    argv = ["train", str(images["style"]), "-o", str(model), "--photos", str(photos),
            "--size", "32", "--steps", "4", "--widths", "4,8,8", "--blocks", "1", "-q"]  # fmt: skip
    code, err = run(argv)
    assert code == 0, err
    code, err = run(argv)
    assert code == 2 and "--resume" in err
    code, err = run([*argv[:-1], "--steps", "6", "--resume"])
    assert code == 0, err
    assert load_model(model).info["step"] == 6
    out = tmp_path / "one.png"
    code, err = run(["apply", str(model), str(images["content"]), "-o", str(out), "--size", "40"])
    assert code == 0, err
    assert image_size(out) == (40, 27)
    method = json.loads(read_metadata(out)["restyle"])["method"]
    assert method["method"] == "model" and method["style"] == "style" and method["step"] == 6
    outdir = tmp_path / "out"
    code, err = run(["apply", str(model), str(photos), "-o", str(outdir), "--format", "jpg", "-q"])
    assert code == 0, err
    assert sorted(p.name for p in outdir.iterdir()) == ["p0.jpg", "p1.jpg"]
    half = open_model(str(model)).paint(photo(), Settings(size=32, style_strength=0.5))
    assert half.size == (32, 21)


def test_the_step_size_warms_up_then_falls_to_zero() -> None:
    o = TrainOptions(steps=1000, warmup=100)
    factors = [o.rate_factor(step) for step in range(1000)]
    assert factors[0] == pytest.approx(0.01, rel=1e-3)  # the warm-up's first step
    assert factors[99] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.099)))
    after = factors[99:]
    assert all(b < a for a, b in itertools.pairwise(after))  # only down after it
    assert factors[-1] < 1e-4 and o.rate_factor(1000) == 0.0
    assert TrainOptions(steps=10, warmup=0).rate_factor(0) == 1.0
