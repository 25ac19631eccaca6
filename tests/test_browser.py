"""End-to-end test of ``restyle serve`` in a real browser (headless Debian Chromium + Playwright).

One server (a subprocess on a free localhost port) serves every test of the module; runs are
tiny (64 px, a few to a few hundred steps) so that the module takes about a minute or two on two
CPU cores. Skipped, with the reason, where /usr/bin/chromium, Playwright or Gradio is missing.

Set RESTYLE_WEB_SCREENSHOT=path/to/file.png to also write the documentation's screenshot of the
page mid-run (a larger run; not part of CI).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "needs the playwright Python package (pip install playwright)"
    if importlib.util.find_spec("gradio") is None:
        return "needs the web extra (pip install -e '.[web]')"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


# --------------------------------------------------------------------------------------------
# Server and browser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``python -m restyle serve`` in a subprocess, its stderr in a file."""

    def __init__(self, cwd: Path, log: Path, *extra: str) -> None:
        self.cwd = cwd
        self.log = log
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with log.open("w") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "restyle", "serve", "--port", str(port), *extra],
                cwd=cwd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 120
        while "serving on" not in log.read_text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[Server]:
    cwd = workdir / "cwd"
    cwd.mkdir()
    srv = Server(cwd, workdir / "server.log", "--no-style-folder", "--max-upload-mb", "2")
    yield srv
    srv.stop()
    out = srv.output()
    assert "Traceback" not in out, out
    # The app writes nothing outside its own temporary folder.
    assert list(cwd.iterdir()) == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def images(workdir: Path) -> dict[str, Path]:
    """Small inputs: a photo-like gradient with shapes, a striped 'painting', and bad files."""
    folder = workdir / "inputs"
    folder.mkdir()
    yy, xx = np.mgrid[0:72, 0:96].astype(np.float32)
    photo = np.stack([xx / 95, yy / 71, 1 - xx / 95], axis=-1)
    photo[20:50, 30:60] = [0.9, 0.8, 0.1]
    Image.fromarray((photo * 255).astype(np.uint8)).save(folder / "photo.png")
    sy, sx = np.mgrid[0:80, 0:80].astype(np.float32)
    waves = 0.5 + 0.5 * np.sin(sx / 3 + 2 * np.sin(sy / 7))
    painting = np.stack([waves, 0.3 + 0.4 * waves[::-1], 1 - waves], axis=-1)
    Image.fromarray((painting * 255).astype(np.uint8)).save(folder / "waves.png")
    (folder / "notes.png").write_text("this is a text file, not a picture\n")
    (folder / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(3 * 1024 * 1024))
    return {p.stem: p for p in folder.iterdir()}


@pytest.fixture()
def page(browser: Browser, server: Server) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    hosts: set[str] = set()
    pg.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    pg.goto(server.url)
    pg.wait_for_selector("#start")
    yield pg
    ctx.close()
    # Nothing is fetched from anywhere but the app itself.
    assert hosts <= {server.url.split("/")[2]}, hosts


# --------------------------------------------------------------------------------------------
# Page helpers


def wait_until(cond: Callable[[], Any], timeout: float, what: str, poll: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def choose_files(page: Page, component: str, files: list[Path]) -> None:
    """Put ``files`` into a file component, clearing what it holds first."""
    clear = page.locator(f"{component} button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.locator(f"{component} input[type=file]").set_input_files([str(f) for f in files])


def upload(page: Page, content: Path, *styles: Path) -> None:
    choose_files(page, "#content-file", [content])
    page.locator("#content-preview img").wait_for(timeout=20_000)
    if styles:
        choose_files(page, "#styles-file", list(styles))
        page.locator("#styles-gallery img").first.wait_for(timeout=20_000)


def set_numbers(page: Page, *, size: int, iterations: int, strength: float | None = None) -> None:
    for sel, value in (
        ("#size input[type=number]", size),
        ("#iterations input", iterations),
        ("#strength input[type=number]", strength),
    ):
        if value is None:
            continue
        box = page.locator(sel)
        box.fill(str(value))
        box.press("Tab")


def progress(page: Page) -> dict[str, Any]:
    """The progress box: kind, fraction, text (and the queue display around it)."""
    box = page.locator("#progress .rs-progress")
    if box.count() == 0:
        return {"kind": "", "fraction": 0.0, "text": "", "all": ""}
    return {
        "kind": box.get_attribute("data-kind") or "",
        "fraction": float(box.get_attribute("data-fraction") or 0),
        "text": box.inner_text(),
        "all": page.locator("#progress").inner_text(),
    }


def step_of(page: Page) -> int:
    m = re.search(r"Step (\d+) of", progress(page)["text"])
    return int(m.group(1)) if m else 0


def preview_src(page: Page) -> str:
    img = page.locator("#preview img")
    return (img.first.get_attribute("src") or "") if img.count() else ""


def fetch_image(page: Page, src: str) -> Image.Image:
    body = page.request.get(src).body()
    return Image.open(io.BytesIO(body)).convert("RGB")


def download(page: Page, dest: Path) -> Path:
    button = page.locator("#download")
    wait_until(button.is_enabled, 20, "the download button")
    with page.expect_download(timeout=20_000) as info:
        button.click()
    info.value.save_as(dest)
    return dest


def png_metadata(path: Path) -> tuple[Image.Image, dict[str, Any], dict[str, Any]]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        text = dict(im.text)  # type: ignore[attr-defined]
        img = im.convert("RGB")
    return img, json.loads(text["restyle"]), json.loads(text["restyle-run"])


def message(page: Page) -> str:
    return page.locator("#message").inner_text()


# --------------------------------------------------------------------------------------------
# Tests


def test_bad_inputs_show_messages(page: Page, images: dict[str, Path]) -> None:
    # A text file named .png: a message on the page that names the file (not a server path).
    page.locator("#content-file input[type=file]").set_input_files(str(images["notes"]))
    wait_until(lambda: "notes.png" in message(page), 20, "the bad-upload message")
    text = message(page)
    assert "content image" in text and "/tmp" not in text, text
    assert page.locator("#content-preview img").count() == 0
    # Start without a usable photo: a message, nothing queued.
    page.click("#start")
    page.get_by_text("upload a content photo first").first.wait_for(timeout=10_000)
    # A file over the upload limit (2 MB here) is refused by the server.
    page.locator("#styles-file input[type=file]").set_input_files(str(images["big"]))
    page.get_by_text(re.compile(r"exceed.*maximum.*big\.png", re.I)).first.wait_for(timeout=10_000)
    # Nonsense numbers give a message too.
    upload(page, images["photo"], images["waves"])
    set_numbers(page, size=64, iterations=0)
    page.click("#start")
    page.get_by_text("iterations must be between 1 and 2000").first.wait_for(timeout=10_000)
    assert progress(page)["kind"] == "idle"


def test_preview_cancel_then_complete_and_download(
    page: Page, images: dict[str, Path], tmp_path: Path
) -> None:
    upload(page, images["photo"], images["waves"])
    set_numbers(page, size=64, iterations=1000, strength=2)
    page.click("#start")
    # The preview changes while the run goes on, with a progress bar and time left.
    seen: list[str] = []

    def previews_changing() -> bool:
        src = preview_src(page)
        if src and (not seen or seen[-1] != src):
            seen.append(src)
        return len(seen) >= 3 and step_of(page) >= 10

    wait_until(previews_changing, 90, "the preview to change during the run")
    p = progress(page)
    assert p["kind"] == "progress" and 0 < p["fraction"] < 1, p
    assert re.search(r"about \d+:\d\d left", p["text"]), p
    assert page.locator("#cancel").is_enabled() and not page.locator("#start").is_enabled()
    # Cancel: the run stops and the latest image stays on the page and in the download.
    page.click("#cancel")
    wait_until(lambda: progress(page)["kind"] == "cancelled", 30, "the run to stop")
    assert re.search(r"Cancelled at step \d+ of 1000", message(page)), message(page)
    kept = fetch_image(page, preview_src(page))
    img, meta, run = png_metadata(download(page, tmp_path / "cancelled.png"))
    assert run["cancelled"] and 10 <= run["steps_done"] < 1000, run
    assert np.array_equal(np.asarray(img), np.asarray(kept))
    assert meta["settings"]["iterations"] == 1000 and meta["settings"]["style_strength"] == 2
    assert meta["content"] == "photo.png" and meta["styles"] == ["waves.png"]
    # A complete run afterwards, downloaded as a PNG with its settings in the metadata.
    wait_until(lambda: page.locator("#start").is_enabled(), 10, "Start to come back")
    set_numbers(page, size=64, iterations=6, strength=1)
    page.click("#start")
    wait_until(lambda: progress(page)["kind"] == "done", 90, "the second run to finish")
    assert "Done: 6 steps" in message(page)
    img, meta, run = png_metadata(download(page, tmp_path / "done.png"))
    assert img.size == (64, 48)
    assert not run["cancelled"] and run["steps_done"] == 6
    s = meta["settings"]
    assert (s["size"], s["iterations"], s["style_strength"], s["color"]) == (64, 6, 1, "none")
    assert np.array_equal(np.asarray(img), np.asarray(fetch_image(page, preview_src(page))))


def test_built_in_paintings_are_offered_as_thumbnails(
    page: Page, images: dict[str, Path], tmp_path: Path
) -> None:
    thumbs = page.locator("#builtin-gallery img")
    wait_until(lambda: thumbs.count() == 4, 20, "the four built-in paintings' thumbnails")
    upload(page, images["photo"])
    # A click on a thumbnail chooses that painting (The Starry Night is the second).
    thumbs.nth(1).click()
    page.locator("#styles-gallery img").first.wait_for(timeout=20_000)
    assert "The Starry Night" in page.locator("#builtin-styles").inner_text()
    set_numbers(page, size=64, iterations=4)
    page.click("#start")
    wait_until(lambda: progress(page)["kind"] == "done", 90, "the run to finish")
    _, meta, _ = png_metadata(download(page, tmp_path / "starry.png"))
    assert meta["styles"] == ["The Starry Night (Vincent van Gogh, 1889)"]
    # A second click takes it away again.
    thumbs.nth(1).click()
    wait_until(lambda: page.locator("#styles-gallery img").count() == 0, 20, "the painting to go")
    assert "The Starry Night" not in page.locator("#builtin-styles").inner_text()


def paint(page: Page, editor: str, strokes: list[tuple[float, float, float, float]]) -> None:
    """Brush strokes over an image editor's canvas, in fractions of its width and height."""
    page.locator(f"{editor} button[aria-label='Brush']").click()
    box = page.locator(f"{editor} canvas").first.bounding_box()
    assert box is not None
    for x0, y0, x1, y1 in strokes:
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=8)
        page.mouse.up()


def test_regions_painted_in_the_browser_keep_the_photo_there(
    page: Page, images: dict[str, Path], tmp_path: Path
) -> None:
    upload(page, images["photo"], images["waves"])
    page.locator("#regions-box button").first.click()
    legend = page.locator("#regions-legend")
    wait_until(lambda: "waves.png" in legend.inner_text(), 20, "the legend to name the style")
    assert "keep the photo" in legend.inner_text()
    page.locator("#regions canvas").first.wait_for(timeout=20_000)
    # The brush starts white ("keep the photo"): paint a band over the photo (strokes start
    # on the picture, which the editor shows centred in its canvas).
    page.wait_for_timeout(500)
    paint(page, "#regions", [(0.3, 0.15 + k * 0.035, 0.45, 0.15 + k * 0.035) for k in range(21)])
    set_numbers(page, size=96, iterations=40, strength=5)
    page.click("#start")
    wait_until(lambda: progress(page)["kind"] in ("done", "error"), 120, "the masked run to end")
    assert progress(page)["kind"] == "done", message(page)
    img, _, _ = png_metadata(download(page, tmp_path / "regions.png"))
    out = np.asarray(img, dtype=np.float32)
    photo = np.asarray(Image.open(images["photo"]).convert("RGB"), dtype=np.float32)
    assert out.shape == photo.shape
    # The brushed band is the photo, pixel for pixel (held fixed); the rest took the painting.
    same = (out == photo).all(axis=2)
    assert same.mean() > 0.08, same.mean()
    right = np.abs(out - photo)[:, -photo.shape[1] // 4 :].mean()
    assert same[:, -photo.shape[1] // 4 :].mean() < 0.02 and right > 10, right


def test_two_visitors_take_turns(
    browser: Browser, server: Server, images: dict[str, Path], tmp_path: Path
) -> None:
    ctxs = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    try:
        a, b = (c.new_page() for c in ctxs)
        for pg, (size, n, k) in ((a, (128, 30, 1)), (b, (64, 6, 3))):
            pg.goto(server.url)
            pg.wait_for_selector("#start")
            upload(pg, images["photo"], images["waves"])
            set_numbers(pg, size=size, iterations=n, strength=k)
        a.click("#start")
        wait_until(lambda: progress(a)["kind"] in ("loading", "progress"), 30, "A to start")
        b.click("#start")
        # B sees its place in the queue while A runs.
        queue = re.compile(r"queue\D{0,3}\d+\s*/\s*\d+", re.I)
        wait_until(lambda: queue.search(progress(b)["all"]), 20, "B's place in the queue")
        # A's run does not freeze B's page: B's uploads are answered while A runs.
        t0 = time.monotonic()
        upload(b, images["photo"], images["waves"])
        assert time.monotonic() - t0 < 15
        assert progress(a)["kind"] != "done", "A finished too soon to tell"
        # Both complete, A first, and the two never optimise at the same time.
        done_order: list[str] = []
        overlap = False
        deadline = time.monotonic() + 150
        while len(done_order) < 2 and time.monotonic() < deadline:
            pa, pb = progress(a), progress(b)
            overlap |= pa["kind"] == "progress" and pb["kind"] == "progress"
            for name, pr in (("A", pa), ("B", pb)):
                if pr["kind"] in ("done", "error", "cancelled") and name not in done_order:
                    done_order.append(name)
            time.sleep(0.1)
        assert done_order == ["A", "B"], done_order
        assert progress(a)["kind"] == progress(b)["kind"] == "done"
        assert not overlap, "both runs were optimising at the same time"
        ia, ma, _ = png_metadata(download(a, tmp_path / "a.png"))
        ib, mb, _ = png_metadata(download(b, tmp_path / "b.png"))
    finally:
        for c in ctxs:
            c.close()
    sa, sb = ma["settings"], mb["settings"]
    assert (sa["size"], sa["iterations"], sa["style_strength"]) == (128, 30, 1)
    assert (sb["size"], sb["iterations"], sb["style_strength"]) == (64, 6, 3)
    assert (ia.size, ib.size) == ((128, 96), (64, 48))
    # Each result is what the library computes for the same inputs and settings.
    import restyle

    photo, waves = Image.open(images["photo"]), Image.open(images["waves"])
    photo.load()  # reads the pixels and closes the file
    waves.load()
    for got, s in ((ia, sa), (ib, sb)):
        want = restyle.stylize(
            photo,
            waves,
            size=s["size"],
            iterations=s["iterations"],
            style_strength=s["style_strength"],
        )
        diff = np.abs(np.asarray(got, np.float32) - np.asarray(want, np.float32))
        assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())


@pytest.mark.skipif(
    not os.environ.get("RESTYLE_WEB_SCREENSHOT"), reason="set RESTYLE_WEB_SCREENSHOT to a .png path"
)
def test_screenshot_for_docs(browser: Browser, workdir: Path) -> None:
    """Writes the documentation's screenshot of the page mid-run (not run in CI).

    RESTYLE_WEB_SCREENSHOT_STYLE may name a style image to upload; the example photo (and, with
    no style given, the example style) come from the "Use the examples" button.
    """
    out = Path(os.environ["RESTYLE_WEB_SCREENSHOT"]).resolve()
    style = os.environ.get("RESTYLE_WEB_SCREENSHOT_STYLE")
    cwd = workdir / "shot"
    cwd.mkdir()
    srv = Server(cwd, workdir / "shot.log", "--no-style-folder")
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        pg = ctx.new_page()
        pg.goto(srv.url)
        pg.wait_for_selector("#start")
        if style:
            choose_files(pg, "#styles-file", [Path(style)])
            pg.locator("#styles-gallery img").first.wait_for(timeout=30_000)
        pg.click("#examples-button")
        pg.locator("#content-preview img").wait_for(timeout=30_000)
        pg.locator("#styles-gallery img").first.wait_for(timeout=30_000)
        set_numbers(pg, size=256, iterations=200)
        pg.click("#start")
        wait_until(lambda: progress(pg)["fraction"] >= 0.4, 900, "the run to get going", 0.5)
        pg.screenshot(path=str(out))
        pg.click("#cancel")
        wait_until(lambda: progress(pg)["kind"] == "cancelled", 120, "the run to stop")
        ctx.close()
    finally:
        srv.stop()
