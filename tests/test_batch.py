"""restyle batch: planning, naming, metadata, reruns, failures and exit codes (tiny network),
and the Ray executor on a local one-actor cluster (skipped when Ray is not installed)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from restyle.cli import main
from restyle.cli.batch import batch_command
from restyle.config import Settings
from restyle.errors import OutOfMemory, RestyleError
from restyle.media.image import read_metadata
from restyle.net.cache import default_cache
from restyle.tasks import batch as batch_mod
from restyle.tasks.batch import (
    REPORT_NAME,
    BatchRun,
    execute_row,
    expand_inputs,
    output_name,
    pair_rows,
    read_manifest,
    seconds_in_steps,
)

from .conftest import painting, photo, tiny_builder

FAST = ["--size", "32", "-n", "4", "-q"]
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture
def folder(tmp_path: Path) -> dict[str, Path]:
    """Two photos in a folder, two paintings, and a corrupt 'photo'."""
    photos, styles = tmp_path / "photos", tmp_path / "styles"
    photos.mkdir()
    styles.mkdir()
    photo(48, 32, seed=1).save(photos / "a.png")
    photo(40, 40, seed=3).save(photos / "b.jpg")
    (photos / "notes.txt").write_text("not an image")
    painting(seed=2).save(styles / "s1.png")
    painting(seed=5).save(styles / "s2.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    return {"photos": photos, "styles": styles, "broken": broken, "root": tmp_path}


def run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    return main(argv, stderr=err), err.getvalue()


def report(outdir: Path) -> list[dict[str, Any]]:
    lines = (outdir / REPORT_NAME).read_text().splitlines()
    return [r for r in map(json.loads, lines) if "row" in r]


# ----- planning ------------------------------------------------------------------------------


def test_inputs_from_files_folders_globs_and_names(folder: dict[str, Path]) -> None:
    photos = folder["photos"]
    assert expand_inputs([str(photos)], role="photo") == [
        str(photos / "a.png"),
        str(photos / "b.jpg"),
    ]  # images only, sorted
    assert expand_inputs([str(photos / "*.jpg"), str(photos / "b.jpg")], role="photo") == [
        str(photos / "b.jpg")
    ]  # each once
    styles = expand_inputs([str(folder["styles"] / "s1.png"), "starry-night"], role="painting",
                           names=True)  # fmt: skip
    assert styles == [str(folder["styles"] / "s1.png"), "starry-night"]
    with pytest.raises(RestyleError, match="no photo files match"):
        expand_inputs([str(photos / "*.gif")], role="photo")
    with pytest.raises(RestyleError, match="photo not found"):
        expand_inputs(["starry-night"], role="photo")  # names are for paintings only


def test_outputs_are_named_predictably(tmp_path: Path) -> None:
    assert output_name("x/tubingen.jpg", ["starry-night"]) == "tubingen_starry-night.png"
    assert output_name("a b.jpg", ["s.png", "t.jpg"], ".jpg") == "a-b_s+t.jpg"
    rows = pair_rows(["a/x.jpg", "b/x.png", "c.png"], ["s.png"], tmp_path, Settings())
    names = [r.output.name for r in rows if r.output is not None]
    assert names[2] == "c_s.png" and len(set(names)) == 3  # clashing stems get a short hash
    again = pair_rows(["a/x.jpg", "b/x.png", "c.png"], ["s.png"], tmp_path, Settings())
    assert [r.output for r in again] == [r.output for r in rows]
    rows = pair_rows(["p.png", "q.png"], ["s.png", "t.png"], tmp_path, Settings())
    assert [r.label for r in rows] == ["p.png + s.png", "q.png + s.png", "p.png + t.png",
                                       "q.png + t.png"]  # painting by painting  # fmt: skip
    zipped = pair_rows(["p.png", "q.png"], ["s.png", "t.png"], tmp_path, Settings(), pairs="zip")
    assert [r.label for r in zipped] == ["p.png + s.png", "q.png + t.png"]
    with pytest.raises(RestyleError, match="as many paintings as photos"):
        pair_rows(["p.png"], ["s.png", "t.png"], tmp_path, Settings(), pairs="zip")
    with pytest.raises(RestyleError, match="unsupported output format"):
        pair_rows(["p.png"], ["s.png"], tmp_path, Settings(), suffix="gif")


def test_manifest_csv_rows_with_their_settings(tmp_path: Path) -> None:
    m = tmp_path / "rows.csv"
    m.write_text(
        "content,style,output,size,strength,color,style_blend\n"
        "a.png,s.png,,64,2,luminance,\n"
        'b.png,s.png;starry-night,sub/b.jpg,,,,"0.7,0.3"\n'
        "c.png,s.png,,huge,,,\n"
        ",s.png,,,,,\n"
        "d.png,s.png,,,,purple,\n"
    )
    base = Settings(size=32, iterations=4)
    rows = read_manifest(m, tmp_path / "out", base)
    a, b, c, d, e = rows
    assert a.error is None and a.settings.size == 64 and a.settings.style_strength == 2.0
    assert a.settings.color == "luminance" and a.settings.iterations == 4
    assert a.content == str(tmp_path / "a.png") and a.output == tmp_path / "out" / "a_s.png"
    assert b.styles == (str(tmp_path / "s.png"), "starry-night")  # a name stays a name
    assert b.settings.style_blend == (0.7, 0.3) and b.output == tmp_path / "out" / "sub/b.jpg"
    assert c.error == "line 4: size must be a whole number, got 'huge'"
    assert d.error == "line 5: no content photo"
    assert e.error is not None and e.error.startswith("line 6: color must be one of")


def test_manifest_json_lines(tmp_path: Path) -> None:
    m = tmp_path / "rows.jsonl"
    m.write_text(
        '{"content": "a.png", "styles": ["s.png", "t.png"], "style_blend": [1, 3], "seed": 2}\n'
        "\n"
        "not json\n"
        '{"content": "a.png", "style": "s.png", "wobble": 1}\n'
        '{"content": "a.png", "style": "s.png", "output": "x.png"}\n'
        '{"content": "b.png", "style": "t.png", "output": "x.png"}\n'
        '{"content": "a.png", "style": "s.png", "mode": "magic"}\n'
    )
    rows = read_manifest(m, tmp_path, Settings())
    assert rows[0].error is None and rows[0].settings.style_blend == (1.0, 3.0)
    assert rows[0].settings.seed == 2
    assert [r.error for r in rows[1:]] == [
        "line 3: not valid JSON (Expecting value)",
        "line 4: unknown setting 'wobble'",
        None,
        f"line 6 (b.png + t.png): output {tmp_path / 'x.png'} is also the output of line 5 "
        "(a.png + s.png)",
        "line 7: mode must be one of optimize, instant, model, got 'magic'",
    ]  # fmt: skip


def test_unreadable_manifests_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RestyleError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv", tmp_path, Settings())
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(RestyleError, match="not UTF-8"):
        read_manifest(tmp_path / "bin.csv", tmp_path, Settings())
    (tmp_path / "cols.csv").write_text("photo,style\na.png,s.png\n")
    with pytest.raises(RestyleError, match="no 'content' column"):
        read_manifest(tmp_path / "cols.csv", tmp_path, Settings())
    (tmp_path / "extra.csv").write_text("content,style,sharpness\na.png,s.png,3\n")
    with pytest.raises(RestyleError, match="unknown column 'sharpness'"):
        read_manifest(tmp_path / "extra.csv", tmp_path, Settings())
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(RestyleError, match="manifest is empty"):
        read_manifest(tmp_path / "empty.csv", tmp_path, Settings())


def test_seconds_in_steps_leaves_out_each_scales_set_up() -> None:
    # scale 0: set-up 1 s and three 0.5 s steps; scale 1: set-up 2 s and two 1 s steps
    marks = [(0, 1.5), (0, 2.0), (0, 2.5), (1, 5.5), (1, 6.5)]
    assert seconds_in_steps(marks) == pytest.approx(3 * 0.5 + 2 * 1.0)


# ----- running on this machine ---------------------------------------------------------------


@pytest.mark.usefixtures("use_tiny_net")
def test_batch_writes_every_pair_with_its_settings(folder: dict[str, Path]) -> None:
    out = folder["root"] / "out"
    code, err = run(["batch", str(folder["photos"]), "-s", str(folder["styles"]), "-o", str(out),
                     *FAST])  # fmt: skip
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_s1.png", "a_s2.png", "b_s1.png", "b_s2.png", REPORT_NAME]
    info = json.loads(read_metadata(out / "b_s2.png")["restyle"])
    assert info["settings"]["size"] == 32 and info["settings"]["iterations"] == 4
    assert info["content"] == str(folder["photos"] / "b.jpg")
    assert info["styles"] == [str(folder["styles"] / "s2.png")]
    assert default_cache().builds == 1  # one network for the whole batch
    rows = report(out)
    assert [r["status"] for r in rows] == ["done"] * 4 and all(r["steps"] > 0 for r in rows)
    # the report rounds each time to the millisecond on its own: allow that much either way
    ms = 1e-3
    assert all(r["step_seconds"] > 0 for r in rows)
    assert all(r["step_seconds"] <= r["optimise_seconds"] + ms for r in rows)
    assert all(r["optimise_seconds"] <= r["seconds"] + ms for r in rows)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.usefixtures("use_tiny_net")
def test_rerun_skips_finished_rows_and_redoes_changed_ones(folder: dict[str, Path]) -> None:
    out = folder["root"] / "out"
    argv = ["batch", str(folder["photos"] / "a.png"), "-s", str(folder["styles"]), "-o", str(out)]
    assert run([*argv, *FAST])[0] == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    (out / "a_s2.png").unlink()
    code, err = run([*argv, *FAST[:-1]])
    assert code == 0 and "1 written, 1 skipped, 0 failed of 2 rows" in err
    assert (out / "a_s1.png").stat().st_mtime_ns == stamps["a_s1.png"]
    code, err = run([*argv, "--size", "40", "-n", "4", "-q"])  # other settings: redone
    assert code == 0 and [r["status"] for r in report(out)[-2:]] == ["done", "done"]
    code, _ = run([*argv, "--size", "40", "-n", "4", "-q", "--redo"])
    assert code == 0 and [r["status"] for r in report(out)[-2:]] == ["done", "done"]
    code, _ = run([*argv, "--size", "40", "-n", "4", "-q"])
    assert code == 0 and [r["status"] for r in report(out)[-2:]] == ["skipped", "skipped"]


@pytest.mark.usefixtures("use_tiny_net")
def test_a_broken_row_is_reported_and_the_others_finish(folder: dict[str, Path]) -> None:
    out = folder["root"] / "out"
    code, err = run(["batch", str(folder["photos"] / "a.png"), str(folder["broken"]), "-s",
                     str(folder["styles"] / "s1.png"), "-o", str(out), *FAST])  # fmt: skip
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("restyle: batch: 1 written, 0 skipped, 1 failed")
    assert lines[0].endswith(f"; see {out / REPORT_NAME}")
    assert (out / "a_s1.png").is_file() and not (out / "broken_s1.png").exists()
    failed = report(out)[1]
    assert failed["status"] == "failed" and "content image is corrupt" in failed["error"]
    assert "\n" not in failed["error"]


@pytest.mark.usefixtures("use_tiny_net")
def test_manifest_rows_with_bad_files_and_settings(folder: dict[str, Path]) -> None:
    photos, styles = folder["photos"], folder["styles"]
    m = folder["root"] / "rows.jsonl"
    rows = [
        {"content": str(photos / "a.png"), "style": str(styles / "s1.png"), "size": 40,
         "strength": 3, "color": "histogram"},
        {"content": str(photos / "missing.png"), "style": str(styles / "s1.png")},
        {"content": str(photos / "b.jpg"), "style": str(styles / "s1.png"), "size": -3},
        {"content": str(photos / "b.jpg"), "styles": [str(styles / "s1.png"),
                                                       str(styles / "s2.png")]},
    ]  # fmt: skip
    m.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = folder["root"] / "out"
    code, err = run(["batch", "--manifest", str(m), "-o", str(out), "--format", "jpg", *FAST])
    assert code == 1 and "2 written, 0 skipped, 2 failed of 4 rows" in err
    got = {r["row"]: r for r in report(out)}
    assert got[1]["error"] == f"content image not found: {photos / 'missing.png'}"
    assert got[2]["error"] == "line 3: size must be a whole number of at least 1, got -3"
    info = json.loads(read_metadata(out / "a_s1.jpg")["restyle"])["settings"]
    assert (info["size"], info["style_strength"], info["color"]) == (40, 3.0, "histogram")
    assert (out / "b_s1+s2.jpg").is_file()


@pytest.mark.usefixtures("use_tiny_net")
def test_out_of_memory_in_one_row_does_not_stop_the_batch(
    folder: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch_mod.StyleRun

    class Flaky(real):  # type: ignore[misc, valid-type]
        def __init__(self, content: Any, styles: Any, settings: Settings, **kw: Any) -> None:
            if content.size == (40, 40):  # b.jpg
                raise OutOfMemory()
            super().__init__(content, styles, settings, **kw)

    monkeypatch.setattr(batch_mod, "StyleRun", Flaky)
    out = folder["root"] / "out"
    code, _ = run(["batch", str(folder["photos"]), "-s", str(folder["styles"] / "s1.png"), "-o",
                   str(out), *FAST])  # fmt: skip
    assert code == 1
    assert [(r["status"], r["error"]) for r in report(out)] == [
        ("done", None), ("failed", OutOfMemory.DEFAULT)
    ]  # fmt: skip


@pytest.mark.usefixtures("use_tiny_net")
def test_ctrl_c_stops_after_the_image_under_way(
    folder: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupting(row: Any, networks: Any, **kw: Any) -> Any:
        if row.index == 0:
            signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C mid-row
        return execute_row(row, networks, **kw)

    monkeypatch.setattr(batch_mod, "execute_row", interrupting)
    out = folder["root"] / "out"
    argv = ["batch", str(folder["photos"]), "-s", str(folder["styles"]), "-o", str(out), *FAST]
    code, err = run(argv)
    assert code == 130 and "stopping after the image(s) under way" in err
    assert [p.name for p in out.glob("*.png")] == ["a_s1.png"]  # the row under way was kept
    monkeypatch.undo()
    code, err = run(argv)
    assert code == 0 and [r["status"] for r in report(out)[-4:]] == ["skipped"] + ["done"] * 3


@pytest.mark.usefixtures("use_tiny_net")
def test_stop_from_the_library(folder: dict[str, Path]) -> None:
    rows = pair_rows(expand_inputs([str(folder["photos"])], role="photo"),
                     [str(folder["styles"] / "s1.png")], folder["root"] / "out",
                     Settings(size=32, iterations=3))  # fmt: skip
    run_ = BatchRun(rows, folder["root"] / "out")
    seen = []
    for p in run_:
        seen.append((p.status, p.finished, p.total))
        run_.stop()
    assert seen == [("done", 1, 2)]
    assert run_.summary is not None and run_.summary.interrupted


def test_bad_command_lines_are_one_line_errors(folder: dict[str, Path], tmp_path: Path) -> None:
    a, s1 = str(folder["photos"] / "a.png"), str(folder["styles"] / "s1.png")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        (["batch", a, "-s", s1, "-o", str(blocker / "out")], "output folder cannot be created"),
        (["batch", a, "-s", s1, "-o", str(blocker)], "output folder"),
        (["batch", "--manifest", str(tmp_path / "no.csv"), "-o", str(tmp_path)],
         "manifest not found"),
        (["batch", a, "-o", str(tmp_path)], "give photos and -s paintings"),
        (["batch", a, "-s", s1, "-o", str(tmp_path), "--workers", "2"], "need --ray"),
        (["batch", a, "-s", "nope", "-o", str(tmp_path)], "painting not found: nope"),
        (["batch", a, "-s", s1, "-o", str(tmp_path), "--ray", "127.0.0.1:9", "-q"],
         "does not answer" if HAS_RAY else "pip install 'restyle[ray]'"),
        (["batch", a, "-s", s1, "-o", str(tmp_path), "--ray", "nonsense"], "not a Ray address"
         if HAS_RAY else "pip install"),
    ]  # fmt: skip
    for argv, message in cases:
        code, err = run(argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (argv, err)


def test_dry_run_lists_the_rows(
    folder: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = folder["root"] / "out"
    code, _ = run(["batch", str(folder["photos"]), "-s", "starry-night", "-o", str(out),
                   "--dry-run"])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{folder['photos'] / 'a.png'} + starry-night -> {out / 'a_starry-night.png'}",
        f"{folder['photos'] / 'b.jpg'} + starry-night -> {out / 'b_starry-night.png'}",
    ]


@pytest.mark.usefixtures("use_tiny_net")
def test_fast_rows_use_the_instant_network(folder: dict[str, Path]) -> None:
    out = folder["root"] / "out"
    m = folder["root"] / "rows.csv"
    a, s1 = folder["photos"] / "a.png", folder["styles"] / "s1.png"
    m.write_text(f"content,style,strength,output\n{a},{s1},0.5,half.png\n{a},{s1},3,x.png\n")
    argv = ["batch", "--manifest", str(m), "-o", str(out), "--fast", "--size", "64", "-q"]
    code, err = run(argv)
    assert code == 1 and "1 written, 0 skipped, 1 failed" in err
    got = report(out)
    assert got[1]["error"] == "strength must be a number from 0 to 1, got 3.0"
    meta = read_metadata(out / "half.png")
    assert json.loads(meta["restyle-batch"]) == {"mode": "instant"}
    assert json.loads(meta["restyle"])["settings"]["style_strength"] == 0.5
    code, err = run([*[a for a in argv if a != "--fast"], "-n", "3"])  # optimised: redone
    assert code == 0 and [r["status"] for r in report(out)[-2:]] == ["done", "done"], err
    assert json.loads(read_metadata(out / "half.png")["restyle-batch"]) == {"mode": "optimize"}


def test_model_rows_use_trained_models_and_rerun_when_one_changes(
    folder: dict[str, Path],
) -> None:
    import torch

    from restyle.net.transformer import TransformerConfig, TransformerNet
    from restyle.tasks.train import save_model

    models = folder["root"] / "models"
    models.mkdir()
    config = TransformerConfig(widths=(4, 8, 8), blocks=1)
    for i, name in enumerate(("m1.pt", "m2.pt")):
        torch.manual_seed(i)
        save_model(models / name, TransformerNet(config), {"style": name})
    (models / "notes.txt").write_text("not a model")
    out = folder["root"] / "out"
    argv = ["batch", str(folder["photos"]), "-s", str(models), "-o", str(out), "--model"]
    code, err = run([*argv, "--size", "32", "-q"])
    assert code == 0, err
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["a_m1.png", "a_m2.png", "b_m1.png", "b_m2.png"]
    meta = json.loads(read_metadata(out / "a_m1.png")["restyle-batch"])
    assert meta["mode"] == "model" and len(meta["model"]) == 16
    with Image.open(out / "a_m1.png") as x, Image.open(out / "a_m2.png") as y:
        assert x.size == (32, 21) and x.tobytes() != y.tobytes()  # each row its own model
    torch.manual_seed(7)  # retrained in place: its rows are redone, the others skipped
    save_model(models / "m2.pt", TransformerNet(config), {"style": "m2"})
    code, err = run([*argv, "--size", "32"])
    assert code == 0 and "2 written, 2 skipped, 0 failed" in err, err
    (models / "m1.pt").write_bytes(b"PK\x03\x04 truncated")
    code, err = run([*argv, "--size", "32", "-q", "--redo"])
    assert code == 1 and "not a restyle model file" in report(out)[-4]["error"]
    code, err = run([*argv, "--fast", "--size", "32"])
    assert code == 2 and err.strip() == "restyle: error: give --fast or --model, not both"


# ----- on a local Ray cluster ----------------------------------------------------------------

ray_only = pytest.mark.skipif(
    not HAS_RAY, reason="ray is not installed (pip install 'restyle[ray]')"
)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local cluster for the module: 2 CPU slots and a pinned 80 MiB object store."""
    import ray

    from restyle.tasks.ray_batch import connect

    started = connect("local", cpus=2, object_store_mb=80)
    assert ray.available_resources()["object_store_memory"] <= 80 * 1024 * 1024
    yield
    if started:
        ray.shutdown()


@ray_only
def test_ray_batch_reports_a_broken_row_and_a_rerun_skips(
    folder: dict[str, Path], ray_cluster: None
) -> None:
    photos, styles = folder["photos"], folder["styles"]
    m = folder["root"] / "rows.csv"
    pairs = [(p, s) for s in ("s1.png", "s2.png") for p in ("a.png", "b.jpg")]
    m.write_text(
        "content,style\n"
        + "".join(f"{photos / p},{styles / s}\n" for p, s in pairs)
        + f"{folder['broken']},{styles / 's1.png'}\n"
    )
    out = folder["root"] / "out"
    argv = ["--manifest", str(m), "-o", str(out), "--ray", "local", "--workers", "1",
            "--size", "48", "-n", "6", "-q"]  # fmt: skip
    err = io.StringIO()
    code = batch_command(argv, err, builder=tiny_builder)
    assert code == 1, err.getvalue()
    assert "4 written, 0 skipped, 1 failed of 5 rows" in err.getvalue()
    rows = report(out)
    assert [r["status"] for r in rows] == ["done"] * 4 + ["failed"]
    assert "content image is corrupt" in rows[4]["error"] and rows[4]["worker"] != "driver"
    assert len({r["worker"] for r in rows}) == 1  # one actor did every row
    info = json.loads(read_metadata(out / "b_s2.png")["restyle"])
    assert info["settings"]["size"] == 48 and info["content"] == str(photos / "b.jpg")
    photo(30, 30, seed=9).save(folder["broken"])  # mend the broken photo, run again
    err = io.StringIO()
    code = batch_command(argv, err, builder=tiny_builder)
    assert code == 0, err.getvalue()
    assert [r["status"] for r in report(out)[5:]] == ["skipped"] * 4 + ["done"]


@ray_only
def test_ray_worker_killed_mid_batch_rows_complete_once(
    folder: dict[str, Path], ray_cluster: None
) -> None:
    from restyle.tasks.ray_batch import RayExecutor

    photos = expand_inputs([str(folder["photos"])], role="photo")
    rows = pair_rows(photos, [str(folder["styles"] / "s1.png"), str(folder["styles"] / "s2.png")],
                     folder["root"] / "out", Settings(size=48, iterations=12))  # fmt: skip
    executor = RayExecutor("local", workers=1, builder=tiny_builder, max_restarts=2)
    run_ = BatchRun(rows, folder["root"] / "out", executor)
    killed = None
    for p in run_:
        assert p.status == "done", p.error
        if killed is None:
            killed = int(p.worker.rsplit(":", 1)[1])
            assert killed != os.getpid()  # the actor's own process, never this one
            os.kill(killed, signal.SIGKILL)  # the actor has the next row under way
    done = report(folder["root"] / "out")
    assert sorted(r["row"] for r in done) == [0, 1, 2, 3]  # every row once
    assert [r["attempts"] for r in done] == [1, 2, 1, 1]  # row 1 was started again
    assert len({r["worker"] for r in done}) == 2 and f":{killed}" in done[0]["worker"]
    assert len(list((folder["root"] / "out").glob("*.png"))) == 4
