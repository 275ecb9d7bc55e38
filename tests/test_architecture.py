"""The package's layers: store ← analysis ← render ← run ← cli, no cycles, imports at the top.

Every module's imports are parsed (module level and inside functions); the test fails on an
import that points up the layers, on a cycle between civgis modules, on an analysis or store
module importing folium or matplotlib, and on a function-level import of a civgis module that
does not say why it is lazy (a ``# lazy:`` comment with the reason).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "civgis"

#: rank of each layer; a module may import its own layer and those below it
RANKS = {"base": 0, "store": 1, "analysis": 2, "render": 3, "demo": 3, "run": 4, "cli": 5, "root": 6}
BASE_MODULES = {"civgis._version", "civgis.progress", "civgis.errors", "civgis.forking"}
#: third-party drawing libraries that only the renderers may use
DRAWING = ("folium", "branca", "matplotlib", "jinja2")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    if module in BASE_MODULES:
        return "base"
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "root"
    return parts[1] if parts[1] in RANKS else "root"


def imports_of(path: Path) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, inside a function, source line) for every import in a file."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py")


def imports_in(source: str, me: str, *, is_package: bool = False) -> list[tuple[str, int, bool, str]]:
    lines = source.splitlines()
    tree = ast.parse(source)
    package = me if is_package else me.rpartition(".")[0]
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, in_function, lines[child.lineno - 1]))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append((target, child.lineno, in_function, lines[child.lineno - 1]))
                # `from civgis.analysis import indicators` imports the sub-module
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() or \
                            (PACKAGE.parent / sub.replace(".", "/") / "__init__.py").exists():
                        found.append((sub, child.lineno, in_function, lines[child.lineno - 1]))
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def internal(target: str) -> str | None:
    """The civgis module an import names (a package's ``__init__`` for a package), or None."""
    if target != "civgis" and not target.startswith("civgis."):
        return None
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def test_layer_map_covers_every_module():
    unknown = [m for m in MODULES if layer_of(m) == "root" and m not in ("civgis", "civgis.__main__")]
    assert unknown == [], f"modules outside the layers: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    mine = RANKS[layer_of(module)]
    bad = []
    for target, line, _, _ in imports_of(MODULES[module]):
        dep = internal(target)
        if dep is None or dep == module:
            continue
        if dep == "civgis" and module != "civgis":
            bad.append(f"{module}:{line} imports the package root")
            continue
        theirs = RANKS[layer_of(dep)]
        if theirs > mine or (layer_of(module) == "demo" and layer_of(dep) in ("render", "analysis")):
            bad.append(f"{module}:{line} ({layer_of(module)}) imports {dep} ({layer_of(dep)})")
    assert bad == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) in ("base", "store", "analysis")))
def test_no_drawing_below_render(module):
    bad = [f"{module}:{line} imports {t}" for t, line, _, _ in imports_of(MODULES[module])
           if t.split(".")[0] in DRAWING]
    assert bad == []


def test_no_import_cycles():
    graph = {m: {d for t, *_ in imports_of(p) if (d := internal(t)) and d != m and d != "civgis"}
             for m, p in MODULES.items()}
    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    # a package's __init__ re-exporting its own sub-modules is not a cycle between concepts
    real = [c for c in sccs if not all(m.startswith(c[0].rpartition(".")[0] or c[0]) for m in c)
            or not any(MODULES[m].name == "__init__.py" for m in c)]
    assert real == []


def test_function_level_imports_say_why():
    bad = []
    for module, path in MODULES.items():
        for target, line, in_function, text in imports_of(path):
            if in_function and internal(target) and "# lazy:" not in text:
                bad.append(f"{module}:{line}: {text.strip()}")
    assert bad == [], "function-level civgis imports without a '# lazy: <reason>' comment:\n" + "\n".join(bad)


def test_every_module_declares_all():
    missing = [m for m, p in MODULES.items()
               if p.name != "__main__.py" and "__all__" not in p.read_text(encoding="utf-8")]
    assert missing == []


def test_the_checker_catches_an_upward_import():
    """The parser sees a relative, function-level upward import (the tests above can fail)."""
    text = "def f():\n    from ..render import webmap\n    return webmap\n"
    found = [(t, inside, "# lazy:" in line) for t, _, inside, line in
             imports_in(text, "civgis.analysis.probe")]
    assert ("civgis.render.webmap", True, False) in found
    assert RANKS[layer_of("civgis.render.webmap")] > RANKS[layer_of("civgis.analysis.probe")]
