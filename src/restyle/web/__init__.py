"""``restyle serve``: the local web app with a live preview (optional ``web`` extra).

Importing this package imports no web framework; :func:`main` imports Gradio when it runs.

Example:
    $ restyle serve                 # http://127.0.0.1:7860
    $ restyle serve --port 8080 --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..config import Settings
from ..errors import RestyleError

__all__ = ["ServeOptions", "main", "parse_args"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MISSING_EXTRA = "the web app needs the 'web' extra: pip install -e '.[web]'"


@dataclass(frozen=True)
class ServeOptions:
    """The ``serve`` command's options.

    Attributes:
        host: Interface to bind (``127.0.0.1``: this computer only).
        port: TCP port.
        device: Device for the runs (``auto``, ``cpu``, ``cuda``, ...).
        style_folder: Folder of paintings to offer besides the built-in ones (None: none).
        no_style_folder: Offer only the built-in paintings (the default; kept for scripts).
        max_upload_mb: Largest upload in megabytes.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    device: str = "auto"
    style_folder: Path | None = None
    no_style_folder: bool = False
    max_upload_mb: int = 25


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="restyle serve",
        description="Start the local web app: upload a photo and a painting, watch the picture "
        "form, download the result. Runs take turns, one at a time per device.",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"interface to bind (default {DEFAULT_HOST}: this computer only; "
        "0.0.0.0 shares the app with your network)",
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--style-folder",
        type=Path,
        metavar="DIR",
        help="offer the images in DIR as styles, after the built-in paintings",
    )
    g.add_argument(
        "--no-style-folder",
        action="store_true",
        help="offer only the built-in paintings (the default)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=int,
        default=25,
        metavar="MB",
        help="largest upload in megabytes (default 25)",
    )
    return p


def parse_args(argv: Sequence[str]) -> ServeOptions:
    """Parse the ``serve`` command line.

    Raises:
        RestyleError: For a port outside 1..65535, an upload limit below 1 MB, or a style
            folder that does not exist.
        SystemExit: For ``--help`` and usage errors (argparse).
    """
    a = _parser().parse_args(list(argv))
    if not 1 <= a.port <= 65535:
        raise RestyleError(f"--port must be between 1 and 65535, got {a.port}")
    if not 1 <= a.max_upload_mb <= 1024:
        raise RestyleError(f"--max-upload-mb must be between 1 and 1024, got {a.max_upload_mb}")
    if a.style_folder is not None and not a.style_folder.is_dir():
        raise RestyleError(f"style folder not found: {a.style_folder}")
    return ServeOptions(
        a.host, a.port, a.device, a.style_folder, a.no_style_folder, a.max_upload_mb
    )


def _private_environment(work_dir: Path) -> None:
    """Point Gradio's files into ``work_dir`` and switch off its telemetry (before import)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(work_dir / "gradio")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(work_dir / "examples")
    os.environ["GRADIO_SHARE"] = "False"
    os.environ.pop("GRADIO_ALLOWED_PATHS", None)
    os.environ.pop("GRADIO_SERVER_NAME", None)
    os.environ.pop("GRADIO_SERVER_PORT", None)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C meanwhile, so that a terminated server still cleans up."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def launch_options(options: ServeOptions) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch``: local only, no share link, nothing extra served."""
    from .app import CSS

    return {
        "server_name": options.host,
        "server_port": options.port,
        "share": False,
        "inbrowser": False,
        "quiet": True,
        "show_error": False,
        "prevent_thread_lock": True,
        "max_file_size": options.max_upload_mb * 1024 * 1024,
        "allowed_paths": [],
        "footer_links": [],
        "run_history": False,
        "enable_monitoring": False,
        "ssr_mode": False,
        "pwa": False,
        "mcp_server": False,
        "state_session_capacity": 200,
        "css": CSS,
    }


def _serve(
    options: ServeOptions, base: Settings, folder: Path | None, work_dir: Path, stderr: IO[str]
) -> None:
    """Build and launch the app with its files in ``work_dir``; return when it stops."""
    _private_environment(work_dir)
    try:
        import gradio  # noqa: F401
    except ImportError as e:
        raise RestyleError(MISSING_EXTRA) from e
    from .app import AppConfig, build_app

    config = AppConfig(
        work_dir=work_dir,
        base=base,
        style_folder=folder,
        max_upload_bytes=options.max_upload_mb * 1024 * 1024,
    )
    demo = build_app(config)
    try:
        _, url, _ = demo.launch(**launch_options(options))
    except OSError as e:
        raise RestyleError(
            f"cannot serve on {options.host}:{options.port} (port in use or address not "
            "available); pick another with --port"
        ) from e
    try:
        print(f"restyle: serving on {url.rstrip('/')} (Ctrl-C to stop)", file=stderr, flush=True)
        while demo.is_running:
            time.sleep(0.2)
    finally:
        with contextlib.suppress(Exception):
            demo.close()


def main(argv: Sequence[str], stderr: IO[str]) -> int:
    """``restyle serve [--host 127.0.0.1] [--port 7860] ...``: run until Ctrl-C.

    Prints the address to ``stderr``; all files go to a private temporary folder that is
    removed on exit.

    Returns:
        0 when stopped with Ctrl-C.

    Raises:
        RestyleError: If Gradio is not installed, an option makes no sense, or the port is
            taken.
    """
    options = parse_args(argv)
    if importlib.util.find_spec("gradio") is None:
        raise RestyleError(MISSING_EXTRA)
    from ..device import resolve_device

    base = Settings().replace(device=options.device)
    resolve_device(base.device)  # a bad --device fails now, not in the first run
    folder = None if options.no_style_folder else options.style_folder
    work_dir = Path(tempfile.mkdtemp(prefix="restyle-web-"))
    try:
        with _sigterm_as_interrupt():
            _serve(options, base, folder, work_dir, stderr)
    except KeyboardInterrupt:
        print("restyle: stopped", file=stderr, flush=True)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:], sys.stderr))
