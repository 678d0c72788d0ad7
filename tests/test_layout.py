"""The package's layout keeps its promises: a TensorFlow-free page side, no import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from sitekit import REPO

PAGE_SIDE = (
    "generator.site_records",
    "generator.page_ids",
    "generator.comparisons",
    "generator.pages",
    "generator.earlier",
    "generator.files",
    "generator.report",
    "generator.trust_summary",
    "generator.walkthrough",
)
# Declarations the page records carry: TensorFlow-free modules of the methods package.
# The catalog's import is TensorFlow-free too (its method objects are made on first use).
DECLARATIONS = {
    "generator.methods",
    "generator.methods.catalog",
    "generator.methods.families",
    "generator.methods.paper",
}


def test_the_page_side_imports_neither_tensorflow_nor_the_methods() -> None:
    script = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in PAGE_SIDE)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras') or m.startswith('generator.methods')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    loaded = set(eval(result.stdout))  # a printed list of module names
    assert loaded <= DECLARATIONS, sorted(loaded - DECLARATIONS)


def _imports(path: Path) -> set[str]:
    """The generator modules a module imports, at any depth of its code (lazy ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("generator")}


def test_no_module_of_the_package_imports_itself_back() -> None:
    modules = {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (REPO / "generator").rglob("*.py")
    }
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            name, trail = stack.pop()
            for imported in graph[name]:
                if imported == start:
                    return [*trail, start]
                if imported not in seen:
                    seen.add(imported)
                    stack.append((imported, [*trail, imported]))
        return None

    cycles = [cycle for name in sorted(graph) if (cycle := cycle_from(name))]
    assert not cycles, " ; ".join(" -> ".join(cycle) for cycle in cycles)
