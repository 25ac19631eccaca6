"""The page, built with Gradio: inputs on the left, the live preview on the right.

Event wiring (all helpers run outside the queue, so they answer at once even while a long run
holds the device; only the optimisation itself is queued, one at a time):

* uploads and example buttons -> checked and decoded at once; problems go to the message box;
* Start -> ``begin`` (checks the numbers, mints a job id; a problem shows as an error toast and
  nothing is queued) -> ``run`` (queued under the ``device`` concurrency id with limit 1; Gradio
  shows the waiting visitor's place in the queue on the progress box) -> ``finish``;
* Cancel -> sets the job's cancel flag; the run stops after its current step, saves the latest
  image and offers it for download.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ..config import COLOR_MODES, Settings
from ..errors import RestyleError
from .examples import EXAMPLE_STYLE, Catalogue
from .jobs import (
    MAX_ITERATIONS,
    MAX_SIZE,
    MAX_STRENGTH,
    MAX_STYLES,
    MAX_UPLOAD_BYTES,
    MIN_SIZE,
    MIN_STRENGTH,
    JobRegistry,
    NamedImage,
    Runner,
    Update,
    escape,
    load_upload,
    parse_settings,
    shrink,
)
from .regions import BRUSH_COLOURS, PALETTE, legend_html, region_masks

if TYPE_CHECKING:
    import gradio as gr

#: Concurrency group of the optimisation: one run at a time on the device.
DEVICE_QUEUE = "device"

CSS = """
.rs-progress { display: flex; flex-direction: column; gap: 6px; padding: 10px 12px;
  border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--block-background-fill); min-height: 64px; }
.rs-progress progress { width: 100%; height: 12px; border: none; border-radius: 6px;
  overflow: hidden; appearance: none; -webkit-appearance: none;
  background: var(--neutral-200, #e5e7eb); }
.rs-progress progress::-webkit-progress-bar { background: var(--neutral-200, #e5e7eb); }
.rs-progress progress::-webkit-progress-value {
  background: var(--button-primary-background-fill, #f97316); }
.rs-progress progress::-moz-progress-bar {
  background: var(--button-primary-background-fill, #f97316); }
.rs-status { font-size: var(--text-md); color: var(--body-text-color); }
.rs-message { padding: 8px 12px; border-radius: var(--radius-lg); }
.rs-message.rs-error { background: #fdecea; color: #8a1c13; border: 1px solid #f5b7b1; }
.rs-message.rs-ok { background: #eaf7ee; color: #1d5e2f; border: 1px solid #b7e1c2; }
.rs-message.rs-note { background: #fff6e0; color: #6b4e00; border: 1px solid #f0d999; }
#preview img { width: 100%; height: 100%; object-fit: contain; }
.rs-legend ul { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; padding: 0;
  margin: 0 0 4px 0; }
.rs-legend p { margin: 0; font-size: var(--text-sm); }
.rs-swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px;
  border: 1px solid #9ca3af; vertical-align: -2px; }
footer { display: none !important; }
"""

COLOR_LABELS = {
    "none": "Off: take the painting's colours",
    "luminance": "Keep the photo's colours (luminance only)",
    "histogram": "Match the painting's colours to the photo first",
}
INIT_LABELS = {
    "auto": "Automatic (the photo; in the painting's colours when the style dominates)",
    "content": "The photo",
    "palette": "The photo in the painting's colours",
    "fast": "The instant painting (shown at once, then refined)",
    "noise": "White noise",
    "style": "The painting",
}


@dataclass
class AppConfig:
    """What the page needs to know.

    Attributes:
        work_dir: The app's own temporary folder; results go to ``work_dir / "results"``.
        base: Settings for everything the page does not set (device, weights, ...).
        style_folder: Paintings to offer besides the built-in ones (None: none).
        max_upload_bytes: Largest upload.
        preview_every: A new preview at least every this many steps.
        catalogue: The examples (default: built from ``style_folder``).
    """

    work_dir: Path
    base: Settings = field(default_factory=Settings)
    style_folder: Path | None = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    preview_every: int = 5
    catalogue: Catalogue | None = None


def progress_html(kind: str, text: str, fraction: float) -> str:
    """The progress box: a bar and one line of text (``data-*`` attributes for tests)."""
    f = min(1.0, max(0.0, fraction))
    return (
        f'<div class="rs-progress" data-kind="{escape(kind)}" data-fraction="{f:.4f}">'
        f'<progress max="1" value="{f:.4f}"></progress>'
        f'<div class="rs-status">{escape(text)}</div></div>'
    )


def message_html(kind: str, text: str) -> str:
    """The message box: ``error``, ``ok`` or ``note``; empty text gives an empty box."""
    if not text:
        return ""
    return f'<div class="rs-message rs-{escape(kind)}" role="status">{escape(text)}</div>'


IDLE = progress_html("idle", "Upload a photo and a style (or use the examples), then Start.", 0)
#: Longest side of the photo under the region brush (masks are resized to the output anyway).
REGION_CANVAS_SIDE = 1024


def _gallery(uploaded: Sequence[NamedImage], builtin: Sequence[NamedImage]) -> list[Any]:
    return [(s.image, s.name) for s in [*uploaded, *builtin]]


class Handlers:
    """The page's event handlers, plain methods over the framework-free core (testable).

    Args:
        config: The app's configuration.
    """

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.catalogue = config.catalogue or Catalogue(config.style_folder)
        self.jobs = JobRegistry()
        self.runner = Runner(config.work_dir / "results", preview_every=config.preview_every)

    # ----- inputs ---------------------------------------------------------------------------

    def content_uploaded(
        self, path: str | None
    ) -> tuple[NamedImage | None, Image.Image | None, str]:
        """An upload of the content photo -> (state, preview, message)."""
        if not path:
            return None, None, ""
        try:
            img = load_upload(path, "content", max_bytes=self.config.max_upload_bytes)
        except RestyleError as e:
            return None, None, message_html("error", str(e))
        return img, img.image, ""

    def example_photo(self) -> tuple[NamedImage | None, Image.Image | None, str]:
        """The built-in photo -> (state, preview, message)."""
        try:
            img = self.catalogue.photo()
        except RestyleError as e:
            return None, None, message_html("error", str(e))
        return img, img.image, ""

    def styles_uploaded(
        self, paths: Sequence[str] | str | None, builtin: Sequence[str] | None
    ) -> tuple[list[NamedImage], list[Any], str]:
        """The style uploads changed -> (state, gallery, message); bad files are left out."""
        if isinstance(paths, str):
            paths = [paths]
        good: list[NamedImage] = []
        problems: list[str] = []
        for p in paths or []:
            if len(good) >= MAX_STYLES:
                problems.append(f"only {MAX_STYLES} style images are used; the rest are ignored")
                break
            try:
                good.append(load_upload(p, "style", max_bytes=self.config.max_upload_bytes))
            except RestyleError as e:
                problems.append(str(e))
        gallery, more = self._builtin_gallery(good, builtin)
        msg = "; ".join([*problems, *more])
        return good, gallery, message_html("error", msg)

    def builtin_changed(
        self, uploaded: Sequence[NamedImage] | None, builtin: Sequence[str] | None
    ) -> tuple[list[Any], str]:
        """The built-in style choice changed -> (gallery, message)."""
        gallery, problems = self._builtin_gallery(uploaded or [], builtin)
        return gallery, message_html("error", "; ".join(problems))

    def _builtin_gallery(
        self, uploaded: Sequence[NamedImage], builtin: Sequence[str] | None
    ) -> tuple[list[Any], list[str]]:
        chosen: list[NamedImage] = []
        problems: list[str] = []
        for name in builtin or []:
            try:
                chosen.append(self.catalogue.style(name))
            except RestyleError as e:
                problems.append(str(e))
        return _gallery(uploaded, chosen), problems

    def toggle_builtin(self, builtin: Sequence[str] | None, index: Any) -> list[str]:
        """A click on the thumbnail at ``index``: adds that style to the chosen built-in styles,
        or removes it if it is chosen already.

        Returns:
            The new list of chosen built-in style names (unchanged for an index out of range).
        """
        names = [n for n in builtin or [] if isinstance(n, str)]
        offered = [name for _, name in self.catalogue.thumbnails()]
        if isinstance(index, bool) or not isinstance(index, int):
            return names
        if not 0 <= index < len(offered):
            return names
        picked = offered[index]
        return [n for n in names if n != picked] if picked in names else [*names, picked]

    def use_examples(
        self, uploaded: Sequence[NamedImage] | None, builtin: Sequence[str] | None
    ) -> tuple[NamedImage | None, Image.Image | None, list[str], str]:
        """The example photo, and the example style unless a style is chosen already.

        Returns:
            (content state, preview, built-in style names, message).
        """
        content, preview, msg = self.example_photo()
        names = list(builtin or [])
        if not uploaded and not names:
            names = [EXAMPLE_STYLE]
        return content, preview, names, msg

    # ----- a run ----------------------------------------------------------------------------

    def _request(
        self,
        content: NamedImage | None,
        uploaded: Sequence[NamedImage] | None,
        builtin: Sequence[str] | None,
        numbers: dict[str, Any],
        regions: Any = None,
    ) -> tuple[NamedImage, list[NamedImage], Settings, list[Image.Image] | None]:
        if not isinstance(content, NamedImage):
            raise RestyleError("upload a content photo first (or use the example photo)")
        styles = [s for s in uploaded or [] if isinstance(s, NamedImage)]
        styles += self.catalogue.styles([n for n in builtin or [] if isinstance(n, str)])
        if not styles:
            raise RestyleError("add at least one style image (upload one or pick a built-in one)")
        if len(styles) > MAX_STYLES:
            raise RestyleError(f"at most {MAX_STYLES} style images, got {len(styles)}")
        settings = parse_settings(base=self.config.base, **numbers)
        masks = region_masks(regions, [s.name for s in styles])
        return content, styles, settings, masks

    def style_names(
        self, uploaded: Sequence[NamedImage] | None, builtin: Sequence[str] | None
    ) -> list[str]:
        """The names of the run's styles, in order (uploads first, then built-in ones)."""
        names = [s.name for s in uploaded or [] if isinstance(s, NamedImage)]
        return names + [n for n in builtin or [] if isinstance(n, str)]

    def legend(self, uploaded: Sequence[NamedImage] | None, builtin: Sequence[str] | None) -> str:
        """The region brush's legend for the chosen styles."""
        return legend_html(self.style_names(uploaded, builtin))

    @staticmethod
    def canvas(content: NamedImage | None) -> dict[str, Any] | None:
        """The region editor's value for a new photo: the photo, nothing painted."""
        if not isinstance(content, NamedImage):
            return None
        return {
            "background": shrink(content.image, REGION_CANVAS_SIDE),
            "layers": [],
            "composite": None,
        }

    def check(
        self,
        content: NamedImage | None,
        uploaded: Sequence[NamedImage] | None,
        builtin: Sequence[str] | None,
        numbers: dict[str, Any],
        regions: Any = None,
    ) -> str:
        """Check a request and register a job; returns its id.

        Raises:
            RestyleError: With the message for the page if the request makes no sense.
        """
        self._request(content, uploaded, builtin, numbers, regions)
        return self.jobs.create().id

    def run(
        self,
        job_id: str,
        content: NamedImage | None,
        uploaded: Sequence[NamedImage] | None,
        builtin: Sequence[str] | None,
        numbers: dict[str, Any],
        regions: Any = None,
    ) -> Iterator[Update]:
        """Run the job ``job_id`` (registered by :meth:`check`) and yield its updates; ``regions``
        is the region editor's value (see :mod:`restyle.web.regions`)."""
        job = self.jobs.get(job_id)
        if job is None:
            yield Update("error", "this run is unknown or has expired; press Start again")
            return
        try:
            c, styles, settings, masks = self._request(content, uploaded, builtin, numbers, regions)
        except RestyleError as e:
            yield Update("error", str(e))
            return
        yield from self.runner.run(job, c, styles, settings, masks)

    def cancel(self, job_id: str | None) -> str:
        """Cancel the job ``job_id``; returns the message for the page."""
        if self.jobs.cancel(job_id):
            return message_html("note", "Cancelling: the run stops after its current step.")
        return ""

    def finish(self, job_id: str | None) -> None:
        """Forget the job ``job_id`` once its run has ended."""
        self.jobs.discard(job_id)


def _numbers(
    strength: Any, size: Any, iterations: Any, color: Any, seed: Any, init: Any
) -> dict[str, Any]:
    return {
        "style_strength": strength,
        "size": size,
        "iterations": iterations,
        "color": color,
        "seed": seed,
        "init": init,
    }


def _request_args(values: Sequence[Any]) -> tuple[Any, Any, Any, dict[str, Any], Any]:
    """The page's inputs, in the order of ``build_app``'s ``settings_inputs``, as
    :meth:`Handlers.check` and :meth:`Handlers.run` take them: (content, uploaded styles,
    built-in style names, the numbers, the painted regions)."""
    content, uploaded, names, strength, size, iterations, color, seed, init, regions = values
    numbers = _numbers(strength, size, iterations, color, seed, init)
    return content, uploaded, names, numbers, regions


def build_app(config: AppConfig) -> gr.Blocks:
    """The Gradio app (not launched).

    Args:
        config: What the page needs to know.

    Returns:
        The :class:`gradio.Blocks`, with its queue configured.
    """
    import gradio as gr

    h = Handlers(config)
    d = config.base
    try:
        from ..device import resolve_device

        device = str(resolve_device(d.device))
    except RestyleError:
        device = d.device

    with gr.Blocks(title="restyle", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# restyle: neural style transfer\n"
            "Repaint a photo in the style of a painting (Gatys, Ecker & Bethge, 2016). "
            "The picture forms as you watch; runs take turns on this computer "
            f"(device: {escape(device)})."
        )
        content_state = gr.State(None)
        styles_state = gr.State([])
        job_state = gr.State("")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                with gr.Row(equal_height=True):
                    content_file = gr.File(
                        label="Content photo",
                        file_types=["image"],
                        type="filepath",
                        height=110,
                        elem_id="content-file",
                    )
                    content_preview = gr.Image(
                        label="Photo",
                        interactive=False,
                        height=150,
                        type="pil",
                        buttons=[],
                        elem_id="content-preview",
                    )
                with gr.Row(equal_height=True):
                    styles_file = gr.File(
                        label=f"Style images (1 to {MAX_STYLES})",
                        file_count="multiple",
                        file_types=["image"],
                        type="filepath",
                        height=110,
                        elem_id="styles-file",
                    )
                    styles_gallery = gr.Gallery(
                        label="Styles",
                        interactive=False,
                        height=150,
                        columns=4,
                        object_fit="cover",
                        buttons=[],
                        elem_id="styles-gallery",
                    )
                with gr.Row(equal_height=True):
                    builtin = gr.Dropdown(
                        choices=h.catalogue.style_names,
                        value=[],
                        multiselect=True,
                        label="Built-in styles",
                        scale=3,
                        elem_id="builtin-styles",
                    )
                    examples_btn = gr.Button(
                        "Use the examples", size="sm", scale=1, elem_id="examples-button"
                    )
                builtin_gallery = gr.Gallery(
                    value=h.catalogue.thumbnails(),
                    label="Built-in paintings: click one to add or remove it",
                    interactive=False,
                    allow_preview=False,
                    height=120,
                    columns=6,
                    object_fit="cover",
                    buttons=[],
                    elem_id="builtin-gallery",
                )
                with gr.Accordion(
                    "Regions: paint where each style goes (optional)",
                    open=False,
                    elem_id="regions-box",
                ):
                    legend = gr.HTML(legend_html([]), elem_id="regions-legend")
                    regions = gr.ImageEditor(
                        type="pil",
                        image_mode="RGBA",
                        sources=(),
                        transforms=(),
                        layers=False,
                        brush=gr.Brush(
                            colors=list(BRUSH_COLOURS),
                            default_color=BRUSH_COLOURS[len(PALETTE)],
                            color_mode="fixed",
                        ),
                        eraser=gr.Eraser(),
                        format="png",
                        label="Regions (brush over the photo)",
                        height=360,
                        elem_id="regions",
                    )
                strength = gr.Slider(
                    MIN_STRENGTH,
                    min(MAX_STRENGTH, 10.0),
                    value=d.style_strength,
                    step=0.01,
                    label="Style strength (× beta)",
                    elem_id="strength",
                )
                size = gr.Slider(
                    MIN_SIZE,
                    MAX_SIZE,
                    value=min(max(d.size, MIN_SIZE), MAX_SIZE),
                    step=16,
                    label="Output size (longest side, px)",
                    elem_id="size",
                )
                iterations = gr.Number(
                    value=d.iterations,
                    precision=0,
                    label=f"Iterations (1 to {MAX_ITERATIONS})",
                    elem_id="iterations",
                )
                color = gr.Radio(
                    [(COLOR_LABELS.get(c, c), c) for c in COLOR_MODES],
                    value=d.color,
                    label="Colour preservation",
                    elem_id="color",
                )
                with gr.Accordion("More", open=False):
                    init = gr.Radio(
                        [(INIT_LABELS[k], k) for k in INIT_LABELS],
                        value=d.init if d.init in INIT_LABELS else "auto",
                        label="Start from",
                        elem_id="init",
                    )
                    seed = gr.Number(
                        value=d.seed, precision=0, label="Seed (for white noise)", elem_id="seed"
                    )
            with gr.Column(scale=4):
                with gr.Row():
                    start_btn = gr.Button("Start", variant="primary", elem_id="start")
                    cancel_btn = gr.Button(
                        "Cancel", variant="stop", interactive=False, elem_id="cancel"
                    )
                preview = gr.Image(
                    label="Preview",
                    interactive=False,
                    type="pil",
                    format="png",
                    height=420,
                    buttons=["fullscreen"],
                    elem_id="preview",
                )
                progress = gr.HTML(IDLE, elem_id="progress")
                message = gr.HTML("", elem_id="message")
                download = gr.DownloadButton(
                    "Download PNG", interactive=False, variant="secondary", elem_id="download"
                )

        quick: dict[str, Any] = {"queue": False, "api_visibility": "private"}
        # The region brush paints over the current photo, and its legend names the chosen
        # styles: each event that changes them is followed by the editor's or legend's update
        # (Gradio cannot watch a State holding images for changes).
        content_file.upload(
            h.content_uploaded, content_file, [content_state, content_preview, message], **quick
        ).then(h.canvas, content_state, regions, **quick)
        content_file.clear(
            lambda: (None, None, ""), None, [content_state, content_preview, message], **quick
        ).then(h.canvas, content_state, regions, **quick)
        for ev in (styles_file.upload, styles_file.clear, styles_file.delete):
            ev(
                h.styles_uploaded,
                [styles_file, builtin],
                [styles_state, styles_gallery, message],
                **quick,
            ).then(h.legend, [styles_state, builtin], legend, **quick)
        builtin.change(
            h.builtin_changed, [styles_state, builtin], [styles_gallery, message], **quick
        )
        builtin.change(h.legend, [styles_state, builtin], legend, **quick)

        def pick_builtin(names: Any, evt: gr.SelectData) -> list[str]:
            return h.toggle_builtin(names, evt.index)

        # Gradio finds the event argument by its annotation's class, which this module's
        # postponed annotations leave as a string it cannot resolve (gr is imported here).
        pick_builtin.__annotations__["evt"] = gr.SelectData
        builtin_gallery.select(pick_builtin, builtin, builtin, **quick)

        def use_examples(uploaded: Any, names: Any) -> tuple[Any, ...]:
            content, img, chosen, msg = h.use_examples(uploaded, names)
            return content, img, None, chosen, msg

        examples_btn.click(
            use_examples,
            [styles_state, builtin],
            [content_state, content_preview, content_file, builtin, message],
            **quick,
        ).then(h.canvas, content_state, regions, **quick)

        settings_inputs = [
            content_state,
            styles_state,
            builtin,
            strength,
            size,
            iterations,
            color,
            seed,
            init,
            regions,
        ]

        def begin(*values: Any) -> tuple[Any, ...]:
            try:
                job_id = h.check(*_request_args(values))
            except RestyleError as e:
                raise gr.Error(str(e), duration=20, print_exception=False) from None
            return (
                job_id,
                gr.update(interactive=False),
                gr.update(interactive=True),
                progress_html("waiting", "Waiting for its turn…", 0),
                "",
                gr.update(value=None, interactive=False),
            )

        def run(job_id: str, *values: Any) -> Iterator[tuple[Any, ...]]:
            shown: tuple[tuple[int, int], bytes] | None = None
            for u in h.run(job_id, *_request_args(values)):
                # An image identical to the one on the page is not sent again: Gradio would
                # rewrite the same cache file (named by a hash of its bytes) while the browser
                # may still be reading it, which breaks that download mid-file.
                pixels = (u.image.size, u.image.tobytes()) if u.image is not None else None
                img = u.image if pixels is not None and pixels != shown else gr.skip()
                shown = pixels if pixels is not None else shown
                bar = progress_html(u.kind, u.message, u.fraction)
                if not u.final:
                    yield img, bar, gr.skip(), gr.skip()
                    continue
                kind = {"done": "ok", "cancelled": "note"}.get(u.kind, "error")
                text = u.message + (" Download the PNG below." if u.result else "")
                dl = gr.update(value=str(u.result), interactive=True) if u.result else gr.skip()
                yield img, bar, message_html(kind, text), dl

        def finish(job_id: str) -> tuple[Any, ...]:
            h.finish(job_id)
            return "", gr.update(interactive=True), gr.update(interactive=False)

        # ``begin`` is queued (with no limit) only so that its error shows as a toast.
        start_btn.click(
            begin,
            settings_inputs,
            [job_state, start_btn, cancel_btn, progress, message, download],
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="private",
        ).success(
            run,
            [job_state, *settings_inputs],
            [preview, progress, message, download],
            concurrency_limit=1,
            concurrency_id=DEVICE_QUEUE,
            show_progress="full",
            show_progress_on=[progress],
            api_visibility="private",
        ).then(finish, job_state, [job_state, start_btn, cancel_btn], **quick)
        cancel_btn.click(h.cancel, job_state, message, **quick)

    demo.queue(max_size=32, api_open=False)
    blocks: gr.Blocks = demo
    return blocks
