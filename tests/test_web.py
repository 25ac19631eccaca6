"""Fast tests of the web app without a browser: uploads, numbers, jobs, cancel, the run loop."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from restyle import Progress, RestyleError, Settings
from restyle.media.image import read_metadata
from restyle.media.paintings import PAINTINGS
from restyle.web import MISSING_EXTRA, ServeOptions, launch_options, parse_args
from restyle.web.app import AppConfig, Handlers, message_html, progress_html
from restyle.web.examples import EXAMPLE_PHOTO, EXAMPLE_STYLE, THUMBNAIL_SIDE, Catalogue
from restyle.web.jobs import (
    INPUT_SIDE,
    Job,
    JobRegistry,
    JobState,
    NamedImage,
    Runner,
    clock,
    describe,
    load_upload,
    parse_settings,
    result_name,
)
from restyle.web.regions import PALETTE, PHOTO_COLOUR, legend_html, region_masks

HAS_GRADIO = importlib.util.find_spec("gradio") is not None


def _png(path: Path, w: int = 24, h: int = 16, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _named(name: str = "photo.png", w: int = 24, h: int = 16, seed: int = 0) -> NamedImage:
    rng = np.random.default_rng(seed)
    return NamedImage(name, Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)))


# --------------------------------------------------------------------------------------------
# Importing and the command line


def test_importing_restyle_web_imports_no_web_framework() -> None:
    code = "import sys, restyle, restyle.web; assert 'gradio' not in sys.modules, 'gradio'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_serve_options_default_to_this_computer_only() -> None:
    o = parse_args([])
    assert (o.host, o.port) == ("127.0.0.1", 7860)
    kw = launch_options(o)
    assert kw["server_name"] == "127.0.0.1" and kw["share"] is False
    assert kw["allowed_paths"] == [] and kw["max_file_size"] == 25 * 1024 * 1024
    assert kw["enable_monitoring"] is False and kw["mcp_server"] is False
    o = parse_args(["--host", "0.0.0.0", "--port", "8080", "--max-upload-mb", "3"])
    assert launch_options(o)["server_port"] == 8080
    assert launch_options(o)["max_file_size"] == 3 * 1024 * 1024


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "0"],
        ["--port", "70000"],
        ["--max-upload-mb", "0"],
        ["--style-folder", "/no/such/folder"],
    ],
)
def test_serve_rejects_bad_options(argv: list[str]) -> None:
    with pytest.raises(RestyleError):
        parse_args(argv)


def test_serve_without_gradio_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from restyle.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a)
    )
    err = io.StringIO()
    assert main(["serve"], err) == 2
    assert MISSING_EXTRA in err.getvalue()


def test_serve_help_exits_cleanly() -> None:
    from restyle.cli import main

    assert main(["serve", "--help"], io.StringIO()) == 0


# --------------------------------------------------------------------------------------------
# Numbers from the page


def test_parse_settings_accepts_numbers_and_strings_and_keeps_base_fields() -> None:
    base = Settings().replace(device="cpu", content_weight=2e-3)
    s = parse_settings(
        size="96",
        iterations=12.0,
        style_strength="2.5",
        color="luminance",
        seed=3,
        init="noise",
        base=base,
    )
    assert (s.size, s.iterations, s.style_strength, s.color, s.seed, s.init) == (
        96,
        12,
        2.5,
        "luminance",
        3,
        "noise",
    )
    assert s.device == "cpu" and s.content_weight == 2e-3 and s.weights == base.weights


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("size", None, "output size is missing"),
        ("size", "abc", "output size must be a number"),
        ("size", 63, "between 64 and 1024"),
        ("size", 5000, "between 64 and 1024"),
        ("size", 100.5, "whole number"),
        ("size", float("nan"), "finite"),
        ("iterations", 0, "iterations must be between 1 and 2000"),
        ("iterations", -5, "iterations must be between"),
        ("iterations", float("inf"), "finite"),
        ("iterations", True, "must be a number"),
        ("iterations", 1e12, "between 1 and 2000"),
        ("style_strength", 0, "style strength must be between"),
        ("style_strength", "-1", "style strength must be between"),
        ("style_strength", [1], "must be a number"),
        ("color", "purple", "colour preservation must be one of"),
        ("seed", -1, "seed must be between"),
        ("init", "/etc/passwd", "start from must be one of"),
    ],
)
def test_parse_settings_rejects_nonsense_with_one_line(field: str, value: Any, words: str) -> None:
    ok: dict[str, Any] = {
        "size": 64,
        "iterations": 5,
        "style_strength": 1,
        "color": "none",
        "seed": 0,
        "init": "content",
    }
    ok[field] = value
    with pytest.raises(RestyleError, match=words) as e:
        parse_settings(**ok)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------------------------
# Uploads


def test_load_upload_decodes_and_names(tmp_path: Path) -> None:
    img = load_upload(_png(tmp_path / "cat.png"), "content")
    assert img.name == "cat.png" and img.image.mode == "RGB" and img.image.size == (24, 16)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"this is text\n", "not an image"),
        (b"", "empty"),
        (None, "corrupt|truncated"),  # a PNG cut in half
    ],
)
def test_load_upload_bad_files_name_the_file_not_the_server_path(
    tmp_path: Path, content: bytes | None, words: str
) -> None:
    folder = tmp_path / "server-side-folder"
    folder.mkdir()
    path = folder / "holiday.png"
    if content is None:
        data = _png(tmp_path / "full.png", 64, 64).read_bytes()
        content = data[: len(data) // 2]
    path.write_bytes(content)
    with pytest.raises(RestyleError, match=words) as e:
        load_upload(path, "content")
    assert "holiday.png" in str(e.value) and "server-side-folder" not in str(e.value)


def test_load_upload_limits_bytes_and_pixels(tmp_path: Path) -> None:
    path = _png(tmp_path / "a.png", 200, 100)
    with pytest.raises(RestyleError, match="the limit is"):
        load_upload(path, "style", max_bytes=100)
    with pytest.raises(RestyleError, match=r"200x100 pixels; the limit is 0\.01 megapixels"):
        load_upload(path, "style", max_pixels=10_000)


def test_load_upload_shrinks_large_inputs(tmp_path: Path) -> None:
    Image.new("RGB", (INPUT_SIDE * 2, 40), "white").save(tmp_path / "wide.png")
    img = load_upload(tmp_path / "wide.png", "style")
    assert img.image.size == (INPUT_SIDE, 20)


# --------------------------------------------------------------------------------------------
# Jobs


def test_registry_ids_cancel_and_capacity() -> None:
    reg = JobRegistry(capacity=3)
    a, b = reg.create(), reg.create()
    assert a.id != b.id and len(a.id) >= 16 and reg.get(a.id) is a
    assert reg.cancel(a.id) and a.cancelled and not b.cancelled
    assert not reg.cancel("no-such-job") and not reg.cancel(None) and reg.get(42) is None
    b.state = JobState.DONE
    assert not reg.cancel(b.id)  # finished jobs cannot be cancelled
    c, d = reg.create(), reg.create()
    assert len(reg) == 3 and reg.get(b.id) is None  # the finished one went first
    reg.discard(c.id)
    assert reg.get(c.id) is None and reg.get(d.id) is d


class FakeRun:
    """Stands in for StyleRun: each step changes the image; optionally fails at a step."""

    def __init__(
        self,
        content: Image.Image,
        styles: list[Image.Image],
        settings: Settings,
        fail_at: int | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.settings = settings
        self.size = (content.width, content.height)
        self.step = 0
        self.fail_at = fail_at
        self.error = error or RuntimeError("boom")
        self.closed = False

    def image(self) -> Image.Image:
        return Image.new("RGB", self.size, (self.step % 256, 0, 0))

    def __iter__(self) -> Iterator[Progress]:
        n = self.settings.iterations
        try:
            for i in range(1, n + 1):
                if i == self.fail_at:
                    raise self.error
                self.step = i
                yield Progress(
                    0,
                    1,
                    *self.size,
                    i,
                    n,
                    i,
                    n,
                    {"total": 1.0 / i},
                    elapsed=i * 0.1,
                    eta=(n - i) * 0.1,
                    done=i == n,
                )
        finally:
            self.closed = True


def _runner(tmp_path: Path, **kw: Any) -> tuple[Runner, list[FakeRun]]:
    made: list[FakeRun] = []

    def factory(
        c: Image.Image, s: list[Image.Image], settings: Settings, masks: Any = None
    ) -> FakeRun:
        made.append(FakeRun(c, s, settings, **kw))
        made[-1].masks = masks
        return made[-1]

    return Runner(
        tmp_path / "results",
        preview_every=5,
        preview_seconds=1e9,
        update_seconds=0.0,
        stylize=factory,
    ), made


def test_runner_previews_every_few_steps_and_saves_png_with_settings(tmp_path: Path) -> None:
    runner, made = _runner(tmp_path)
    settings = Settings().replace(iterations=12, size=64, style_strength=3.0)
    updates = list(runner.run(Job("j1"), _named("my photo.png"), [_named("art.jpg")], settings))
    assert [u.kind for u in updates[:2]] == ["loading", "loading"]
    assert updates[1].image is not None  # the starting image is shown at once
    steps_with_image = [
        u.progress.total_step for u in updates if u.kind == "progress" and u.image and u.progress
    ]
    assert steps_with_image == [5, 10, 12]
    fractions = [u.fraction for u in updates if u.kind == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    last = updates[-1]
    assert last.kind == "done" and last.final and last.result is not None
    assert (
        last.result.name == "restyle-my-photo-art.png"
        and last.result.parent.parent == runner.out_dir
    )
    meta = read_metadata(last.result)
    info = json.loads(meta["restyle"])
    assert info["settings"]["iterations"] == 12 and info["settings"]["style_strength"] == 3.0
    assert info["content"] == "my photo.png" and info["styles"] == ["art.jpg"]
    assert json.loads(meta["restyle-run"]) == {
        "cancelled": False,
        "steps_done": 12,
        "steps_planned": 12,
    }
    with Image.open(last.result) as im:
        assert im.format == "PNG" and im.getpixel((0, 0)) == (12, 0, 0)
    assert made[0].closed


def test_cancel_mid_run_keeps_the_latest_image(tmp_path: Path) -> None:
    runner, made = _runner(tmp_path)
    job = Job("j2")
    settings = Settings().replace(iterations=100)
    gen = runner.run(job, _named(), [_named("s.png")], settings)
    for u in gen:
        if u.progress is not None and u.progress.total_step == 7:
            job.cancel()
            break
    rest = list(gen)
    assert len(rest) == 1
    last = rest[0]
    assert last.kind == "cancelled" and job.state is JobState.CANCELLED
    assert "Cancelled at step 8 of 100" in last.message  # the step under way when asked
    assert last.image is not None and last.image.getpixel((0, 0)) == (8, 0, 0)
    assert last.result is not None
    with Image.open(last.result) as im:
        assert im.convert("RGB").tobytes() == last.image.tobytes()
    assert json.loads(read_metadata(last.result)["restyle-run"])["cancelled"] is True
    assert made[0].closed and made[0].step == 8  # stopped, not run to 100


def test_cancel_before_start_runs_nothing(tmp_path: Path) -> None:
    runner, made = _runner(tmp_path)
    job = Job("j3")
    job.cancel()
    updates = list(runner.run(job, _named(), [_named()], Settings().replace(iterations=5)))
    assert [u.kind for u in updates] == ["cancelled"] and made == []
    assert job.state is JobState.CANCELLED


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (RestyleError("the loss became infinite"), "the loss became infinite"),
        (RuntimeError("CUDA error: device-side assert"), "the run failed: CUDA error"),
        (MemoryError(), "out of memory"),
    ],
)
def test_failures_become_messages_not_crashes(
    tmp_path: Path, error: BaseException, words: str
) -> None:
    runner, _ = _runner(tmp_path, fail_at=4, error=error)
    job = Job("j4")
    updates = list(runner.run(job, _named(), [_named()], Settings().replace(iterations=9)))
    last = updates[-1]
    assert last.kind == "error" and words in last.message and job.state is JobState.FAILED
    assert last.image is not None  # the picture so far stays on the page


def test_bad_settings_at_start_become_a_message(tmp_path: Path) -> None:
    def factory(*a: Any) -> FakeRun:
        raise RestyleError("3 style blend weights given for 1 style images")

    runner = Runner(tmp_path, stylize=factory)
    updates = list(runner.run(Job("j5"), _named(), [_named()], Settings()))
    assert updates[-1].kind == "error" and "blend weights" in updates[-1].message


def test_runner_keeps_a_bounded_number_of_results(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path)
    runner.keep_results = 3
    for i in range(6):
        list(runner.run(Job(f"job{i}"), _named(), [_named()], Settings().replace(iterations=1)))
    assert len(list(runner.out_dir.iterdir())) == 3


def test_real_run_with_the_tiny_network(tmp_path: Path, use_tiny_net: None) -> None:
    runner = Runner(tmp_path, preview_every=2)
    settings = parse_settings(size=64, iterations=4, style_strength=1, color="luminance")
    content, style = _named("c.png", 80, 60, 1), _named("s.png", 50, 50, 2)
    updates = list(runner.run(Job("real"), content, [style], settings))
    last = updates[-1]
    assert last.kind == "done", last.message
    assert last.image is not None and last.image.size == (64, 48)
    assert last.result is not None and read_metadata(last.result)["restyle"]


def test_concurrent_jobs_do_not_mix(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path)
    results: dict[str, Path | None] = {}

    def go(name: str, n: int) -> None:
        ups = list(
            runner.run(
                Job(name), _named(f"{name}.png"), [_named()], Settings().replace(iterations=n)
            )
        )
        results[name] = ups[-1].result

    threads = [threading.Thread(target=go, args=(f"t{i}", 3 + i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        path = results[f"t{i}"]
        assert path is not None
        assert json.loads(read_metadata(path)["restyle"])["settings"]["iterations"] == 3 + i


# --------------------------------------------------------------------------------------------
# Small pieces


def test_clock_describe_and_safe_result_names() -> None:
    assert (clock(0), clock(75.2), clock(3725), clock(-3)) == ("0:00", "1:15", "1:02:05", "0:00")
    p = Progress(1, 3, 96, 64, 4, 10, 14, 40, {}, 3.0, 65.0, False)
    assert describe(p) == "Step 14 of 40 · scale 2 of 3 · 96×64 px · about 1:05 left"
    assert result_name("../../etc/passwd.png", ["a b.jpg"]) == "restyle-passwd-a-b.png"
    assert result_name("💥.png", []) == "restyle-image-style.png"


def test_progress_and_message_html_escape_text() -> None:
    html = progress_html("error", "<script>alert(1)</script>", 1.7)
    assert "<script>" not in html and 'data-fraction="1.0000"' in html
    assert message_html("error", "") == ""
    assert "&lt;b&gt;" in message_html("error", "<b>")


def _red_photo() -> Image.Image:
    return Image.new("RGB", (30, 20), "red")


def test_catalogue_offers_the_built_in_paintings_then_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "paintings"
    folder.mkdir()
    _png(folder / "starry_night.jpg")
    _png(folder / "the-scream.png")
    _png(folder / "The Scream (Edvard Munch, 1893).png")  # a built-in's name: the built-in wins
    (folder / "notes.txt").write_text("not an image")
    cat = Catalogue(folder, photo=_red_photo)
    builtin = [p.label for p in PAINTINGS]
    assert EXAMPLE_STYLE in builtin
    assert cat.style_names == [*builtin, "Starry Night", "The Scream"]
    assert cat.photo().name == EXAMPLE_PHOTO and cat.photo().image.size == (30, 20)
    starry = cat.style("The Starry Night (Vincent van Gogh, 1889)")
    assert starry.name == "The Starry Night (Vincent van Gogh, 1889)"
    assert starry.image.size == PAINTINGS[1].load().size
    assert cat.style("starry-night") is starry  # a built-in's short name finds it too
    assert cat.style("Starry Night").image.size == (24, 16)  # the folder's file
    for bad in ["/etc/passwd", "../starry_night.jpg", str(folder / "starry_night.jpg")]:
        with pytest.raises(RestyleError, match="unknown built-in style"):
            cat.style(bad)
    assert Catalogue(None, photo=_red_photo).style_names == builtin


def test_catalogue_thumbnails_every_style_on_offer(tmp_path: Path) -> None:
    folder = tmp_path / "paintings"
    folder.mkdir()
    _png(folder / "waves.png", 300, 200)
    (folder / "broken.png").write_text("not an image")  # left out of the thumbnails
    cat = Catalogue(folder, photo=_red_photo)
    thumbs = cat.thumbnails()
    assert [name for _, name in thumbs] == [*[p.label for p in PAINTINGS], "Waves"]
    assert all(max(img.size) <= THUMBNAIL_SIDE for img, _ in thumbs)
    assert thumbs[-1][0].size == (THUMBNAIL_SIDE, 128)
    assert "Broken" in cat.style_names


def test_catalogue_reads_the_built_in_paintings_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[str] = []
    real = PAINTINGS[0].load

    def spy(self: Any) -> Image.Image:
        loaded.append(self.name)
        return real()

    monkeypatch.setattr(type(PAINTINGS[0]), "load", spy)
    cat = Catalogue(None, photo=_red_photo)
    assert cat.style_names and loaded == []
    cat.style(EXAMPLE_STYLE)
    cat.style(EXAMPLE_STYLE)
    assert len(loaded) == 1


# --------------------------------------------------------------------------------------------
# The page's handlers (framework-free) and the app's wiring


def _handlers(tmp_path: Path) -> Handlers:
    catalogue = Catalogue(None, photo=lambda: Image.new("RGB", (40, 30), "red"))
    return Handlers(AppConfig(work_dir=tmp_path, catalogue=catalogue))


NUMBERS = {
    "style_strength": 1,
    "size": 64,
    "iterations": 3,
    "color": "none",
    "seed": 0,
    "init": "content",
}


def test_handlers_report_bad_uploads_on_the_page(tmp_path: Path) -> None:
    h = _handlers(tmp_path)
    (tmp_path / "notes.png").write_text("hello")
    state, preview, msg = h.content_uploaded(str(tmp_path / "notes.png"))
    assert state is None and preview is None and "notes.png" in msg and "rs-error" in msg
    good = _png(tmp_path / "good.png")
    styles, gallery, msg = h.styles_uploaded(
        [str(tmp_path / "notes.png"), str(good)], [EXAMPLE_STYLE]
    )
    assert [s.name for s in styles] == ["good.png"] and len(gallery) == 2 and "notes.png" in msg


def test_handlers_check_requests_before_queueing(tmp_path: Path) -> None:
    h = _handlers(tmp_path)
    photo = h.catalogue.photo()
    with pytest.raises(RestyleError, match="upload a content photo"):
        h.check(None, [], [EXAMPLE_STYLE], NUMBERS)
    with pytest.raises(RestyleError, match="at least one style"):
        h.check(photo, [], [], NUMBERS)
    with pytest.raises(RestyleError, match="iterations"):
        h.check(photo, [], [EXAMPLE_STYLE], {**NUMBERS, "iterations": "lots"})
    with pytest.raises(RestyleError, match="unknown built-in style"):
        h.check(photo, [], ["../../secret.png"], NUMBERS)
    job_id = h.check(photo, [], [EXAMPLE_STYLE], NUMBERS)
    assert "Cancelling" in h.cancel(job_id) and h.cancel("someone-else") == ""
    updates = list(h.run(job_id, photo, [], [EXAMPLE_STYLE], NUMBERS))
    assert [u.kind for u in updates] == ["cancelled"]
    h.finish(job_id)
    assert [u.kind for u in h.run(job_id, photo, [], [EXAMPLE_STYLE], NUMBERS)] == ["error"]


APP_PROBE = """
import json, sys, tempfile
from pathlib import Path
from restyle.web.app import AppConfig, build_app
from restyle.web.examples import Catalogue
from gradio.helpers import special_args
demo = build_app(AppConfig(work_dir=Path(sys.argv[1]), catalogue=Catalogue(None)))
galleries = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "builtin-gallery"]
print(json.dumps({
    "fns": {f.name: [f.queue, f.concurrency_limit, f.concurrency_id] for f in demo.fns.values()},
    "pick_event_arg": [special_args(f.fn)[2] for f in demo.fns.values()
                       if f.name == "pick_builtin"],
    "thumbnails": [[item["caption"] for item in g.value] for g in galleries],
    "api_open": demo.api_open, "analytics": demo.analytics_enabled,
}))
"""


@pytest.mark.skipif(not HAS_GRADIO, reason="needs the web extra (gradio)")
def test_app_runs_one_optimisation_at_a_time_and_helpers_skip_the_queue(tmp_path: Path) -> None:
    # In a child process, so that Gradio's folder (read when it is imported) is in tmp_path.
    env = {
        **os.environ,
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    out = subprocess.run(
        [sys.executable, "-c", APP_PROBE, str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info = json.loads(out.strip().splitlines()[-1])
    fns = info["fns"]
    assert fns["run"] == [True, 1, "device"]  # one optimisation at a time, queued
    for name, (queued, _, _) in fns.items():
        if name not in ("run", "begin"):
            assert not queued, name  # uploads, examples and Cancel answer during a run
    assert fns["begin"][1] is None
    assert info["api_open"] is False and info["analytics"] is False
    assert info["pick_event_arg"] == [1]  # a click on a thumbnail gets Gradio's SelectData
    assert info["thumbnails"] == [[p.label for p in PAINTINGS]]


def test_serve_options_dataclass_defaults_match_parser() -> None:
    assert parse_args([]) == ServeOptions()


def test_a_click_on_a_thumbnail_adds_or_removes_that_painting(tmp_path: Path) -> None:
    h = _handlers(tmp_path)
    labels = [p.label for p in PAINTINGS]
    assert h.toggle_builtin([], 1) == [labels[1]]
    assert h.toggle_builtin([labels[1]], 3) == [labels[1], labels[3]]
    assert h.toggle_builtin([labels[1], labels[3]], 1) == [labels[3]]
    for bad in [-1, len(labels), None, "1", True]:
        assert h.toggle_builtin([labels[0]], bad) == [labels[0]]


def test_use_examples_fills_in_only_what_is_missing(tmp_path: Path) -> None:
    h = _handlers(tmp_path)
    content, preview, names, msg = h.use_examples([], [])
    assert content is not None and content.name == EXAMPLE_PHOTO and names == [EXAMPLE_STYLE]
    assert preview is not None and msg == ""
    assert h.use_examples([_named("mine.png")], [])[2] == []
    assert h.use_examples([], ["Other"])[2] == ["Other"]


# --------------------------------------------------------------------------------------------
# Regions painted over the photo


def _layer(w: int, h: int, *boxes: tuple[str, tuple[int, int, int, int]]) -> Image.Image:
    """A transparent brush layer with opaque rectangles in the given colours."""
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    for colour, box in boxes:
        layer.paste(Image.new("RGBA", (box[2] - box[0], box[3] - box[1]), colour), box[:2])
    return layer


def test_painted_regions_become_one_mask_per_style() -> None:
    # Top strip in the second style's colour, a white (keep the photo) square; the rest is
    # unpainted and goes to the first style.
    layer = _layer(40, 30, (PALETTE[1], (0, 0, 40, 10)), (PHOTO_COLOUR, (5, 15, 15, 25)))
    first, second = region_masks({"background": None, "layers": [layer]}, ["a.jpg", "b.jpg"])
    m1, m2 = np.asarray(first) > 127, np.asarray(second) > 127
    assert m2[:10].all() and not m2[10:].any()
    assert not m1[:10].any() and not m1[15:25, 5:15].any()
    assert m1[10:15].all() and m1[25:].all() and m1[15:25, 15:].all()
    # A soft brush rim (half transparent) counts from half opacity on; a later layer wins.
    rim = _layer(40, 30, (PALETTE[1], (0, 20, 40, 30)))
    rim.putalpha(Image.new("L", (40, 30), 100))
    top = _layer(40, 30, (PALETTE[0], (0, 0, 20, 10)))
    first, second = region_masks({"layers": [layer, rim, top]}, ["a", "b"])
    assert (np.asarray(first)[:10, :20] == 255).all() and (np.asarray(second)[20:, 30:] == 0).all()


def test_nothing_painted_is_an_ordinary_run_and_bad_paint_is_a_message() -> None:
    empty = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    assert region_masks(None, ["a"]) is None
    assert region_masks({"layers": []}, ["a"]) is None
    assert region_masks({"layers": [empty]}, ["a"]) is None
    third = _layer(20, 10, (PALETTE[2], (0, 0, 5, 5)))
    with pytest.raises(RestyleError, match="colour of style 3, but the run has 2 styles"):
        region_masks({"layers": [third]}, ["a", "b"])
    with pytest.raises(RestyleError, match=r"style 2 \(b.png\) has no region"):
        region_masks({"layers": [_layer(20, 10, (PHOTO_COLOUR, (0, 0, 5, 5)))]}, ["a", "b.png"])
    with pytest.raises(RestyleError, match="keep the whole photo"):
        region_masks({"layers": [_layer(20, 10, (PHOTO_COLOUR, (0, 0, 20, 10)))]}, ["a"])


def test_the_legend_names_each_style_beside_its_colour() -> None:
    html = legend_html(["sky <b>.png", "town.png"])
    assert html.index(PALETTE[0]) < html.index("sky &lt;b&gt;.png") < html.index(PALETTE[1])
    assert "town.png" in html and PHOTO_COLOUR in html and "keep the photo" in html
    assert "<b>" not in html


def test_handlers_pass_painted_regions_to_the_run(tmp_path: Path) -> None:
    h = Handlers(AppConfig(work_dir=tmp_path))
    h.runner, made = _runner(tmp_path)
    content, style = _named("photo.png", 24, 16), _named("art.png", 8, 8, seed=1)
    canvas = h.canvas(content)
    assert canvas is not None and canvas["background"].size == (24, 16) and not canvas["layers"]
    assert h.canvas(None) is None
    numbers = {"size": 64, "iterations": 3, "style_strength": 1, "color": "none"}
    regions = {"layers": [_layer(24, 16, (PHOTO_COLOUR, (0, 0, 8, 16)))]}
    job = h.check(content, [style], [], numbers, regions)
    updates = list(h.run(job, content, [style], [], numbers, regions))
    assert updates[-1].kind == "done"
    (mask,) = made[-1].masks
    assert np.asarray(mask)[:, :8].max() == 0 and np.asarray(mask)[:, 8:].min() == 255
    # A mistake in the painting is refused before anything is queued.
    wrong = {"layers": [_layer(24, 16, (PALETTE[3], (0, 0, 8, 16)))]}
    with pytest.raises(RestyleError, match="style 4"):
        h.check(content, [style], [], numbers, wrong)
    assert h.legend([style], []) == legend_html(["art.png"])
