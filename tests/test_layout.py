"""The folder tree is the architecture: each subpackage imports only the layers below it, says so in its docstring,
and every name has one route (no module re-exports another's names)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vs2demo"

# Each layer may import the layers listed before it (and itself). serve and batch are siblings: neither imports
# the other; cli sits on top of both. store (the results library) sits below both and never runs the model.
LAYERS = ["core", "input", "analysis", "engine", "evidence", "present", "store", "serve", "batch", "cli"]
FORBIDDEN = {("batch", "serve"), ("serve", "batch"), ("batch", "evidence"), ("batch", "present"),
             ("store", "engine")}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "vs2demo" and parts[1] in LAYERS else None


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every vs2demo module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("vs2demo"):
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                         if layer_of(node.module) is None)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names if alias.name.startswith("vs2demo"))
    return found


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def test_every_module_lives_in_a_layer() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert loose == [], f"modules outside the layers: {loose}"
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(LAYERS)


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    own = path.parent.name
    allowed = set(LAYERS[: LAYERS.index(own) + 1]) - {b for a, b in FORBIDDEN if a == own}
    for line, module in imported_modules(path):
        target = layer_of(module)
        assert target is not None, f"{path.name}:{line} imports {module}: import from the module that defines it"
        assert target in allowed, f"{path.relative_to(PACKAGE)}:{line} imports {module} (layer {target!r} sits above)"


def test_no_relative_imports() -> None:
    for path in package_files():
        tree = ast.parse(path.read_text())
        relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert relative == [], f"{path.relative_to(PACKAGE)} lines {relative}: use absolute vs2demo.<layer> imports"


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_says_what_it_owns_and_may_import(layer: str) -> None:
    doc = importlib.import_module(f"vs2demo.{layer}").__doc__ or ""
    assert len(doc.split()) > 10, f"vs2demo.{layer} needs a docstring saying what it owns"
    below = LAYERS[: LAYERS.index(layer)]
    assert "May import" in doc or layer == "core", f"vs2demo.{layer}'s docstring must say what it may import"
    if layer == "core":
        assert "Imports nothing from vs2demo" in doc
    else:
        assert any(b in doc for b in below)


def test_one_route_to_each_name() -> None:
    """A name imported from a vs2demo module must be defined there, not re-exported from elsewhere."""
    offenders = []
    for path in package_files():
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
               for n in tree.body):
            offenders.append(f"{module} declares __all__ (a re-export list)")
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vs2demo"):
                for alias in node.names:
                    source = importlib.import_module(node.module)
                    value = getattr(source, alias.name, None)
                    home = getattr(value, "__module__", None)
                    if ((isinstance(value, type) or callable(value)) and home and home.startswith("vs2demo")
                            and home != node.module):
                        offenders.append(f"{module} takes {alias.name} from {node.module}, defined in {home}")
    assert offenders == []


def test_the_readme_layout_matches_the_tree() -> None:
    """Every module is listed in the README's layout section, and every path it names exists."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme[readme.index("## Layout"):]
    section = section[: section.index("\n## ", 4)] if "\n## " in section[4:] else section
    import re

    listed: set[str] = set()
    for row in section.splitlines():
        first_cell = row.split("|")[1] if row.startswith("|") else ""
        folder = ""
        for path in re.findall(r"[\w/]+\.py", first_cell):
            if "/" in path:
                folder = path.rsplit("/", 1)[0]
            listed.add(path if "/" in path else f"{folder}/{path}")
    for path in listed:
        assert (PACKAGE.parent / path).exists(), f"README's layout names {path}, which does not exist"
    modules = {str(p.relative_to(PACKAGE.parent)) for p in package_files() if p.name != "__init__.py"}
    assert modules - listed == set(), f"modules missing from README's layout: {sorted(modules - listed)}"
