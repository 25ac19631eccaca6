"""The package's layers import one way: a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "restyle"

#: Each top-level module or subpackage of restyle, by layer (lowest first). A module may import
#: from its own layer and the layers below it, never from a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config"),
    ("device", "memory", "color", "media"),
    ("net",),
    ("objective",),
    ("optim",),
    ("metrics",),
    ("tasks",),
    ("api", "__init__"),
    ("cli", "web"),
    ("__main__",),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _part(module: str) -> str:
    """``restyle.net.vgg`` -> ``net``; ``restyle`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every restyle import in ``path``, lazy ones included."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: x may be a module
                    found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
                    continue
            else:
                target = node.module or ""
            if target == "restyle" or target.startswith("restyle."):
                found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("restyle")]
    return found


def _violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_name(path))
        for line, target in _imports(path):
            dest = _part(target)
            if dest not in RANK:  # e.g. `from .. import __version__` resolves to restyle.x
                continue
            if RANK[dest] > RANK[source]:
                bad.append(f"{path.relative_to(PACKAGE)}:{line}: {source} imports {target}")
    return bad


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    parts = {p for p in parts if not p.startswith((".", "_")) or p in ("__init__", "__main__")}
    parts -= {"data", "py"}
    assert parts <= set(RANK), f"give these a layer in LAYERS: {sorted(parts - set(RANK))}"


def test_no_lower_layer_imports_a_higher_one() -> None:
    assert _violations() == []


def test_the_check_catches_an_upward_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "restyle"
    (fake / "net").mkdir(parents=True)
    (fake / "net" / "__init__.py").write_text("")
    (fake / "net" / "bad.py").write_text("def f():\n    from ..tasks import stylize\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    assert _violations() == ["net/bad.py:2: net imports restyle.tasks"]
