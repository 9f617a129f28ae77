"""The import rules that keep the layers visible (docs/architecture.md), checked on the source.

1. A layer imports only itself and the layers below it, at module level or inside a function.
   Layers of one rank (``datasets``, ``calibration``, ``adapt``, ``report``) are independent of each other.
2. Outside ``clave_lite.export`` (the bake extra) nothing imports torch, transformers, peft,
   optimum or ``clave_lite.export`` at module level: scoring never pays for them.
3. Only ``clave_lite.cli`` knows about click.
4. Only ``clave_lite.report`` imports matplotlib and Jinja2, only ``clave_lite.engines`` imports
   Ray, and pyarrow, pandas and Ray are imported only inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support import REPO

RANKS = {
    "base": 0, "models": 0, "core": 1, "formats": 2, "runtime": 3, "build": 4, "jobs": 5, "evaluation": 6,
    "datasets": 7, "calibration": 7, "adapt": 7, "report": 7, "engines": 7, "export": 8, "cli": 9, "api": 10,
}
"""``base``: the top-level modules (errors, paths, progress, options, version); ``models``: the
shipped weights; ``runtime``: the engine (an evaluator and its backends, reading texts);
``build``: making evaluators without torch, and which one a job loads (the default on first use);
``jobs``: score, filter and serve with their ledger, policy and writers; ``api``:
``clave_lite/__init__.py`` (the public names, imported lazily) and ``__main__``."""
BASE_MODULES = {"errors", "paths", "progress", "options", "version"}
LAZY = ("pyarrow", "pandas", "ray")
"""Tables and Ray (the parquet / ray extras): imported inside functions only, anywhere."""
PLOTTING = ("matplotlib", "jinja2")
"""The report extra: only ``clave_lite.report`` imports them, inside the functions that draw."""
HEAVY = ("torch", "transformers", "peft", "optimum", "onnx", "clave_lite.export")

UPWARD_ALLOWED = {
    ("runtime", "clave_lite.export.reference"):
        "Evaluator.load(backend='torch') runs the fp32 torch reference: bake extra, imported only then",
    ("evaluation", "clave_lite.export.reference"):
        "bench times the naive torch reference beside llama.cpp when torch is installed",
}
"""Upward imports that are deliberate, each inside a function and behind ``errors.require``."""


def layer_of(module: str) -> str:
    """``clave_lite.runtime.cpu`` → ``runtime``; ``clave_lite.errors`` → ``base``."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "api"
    return "base" if parts[1] in BASE_MODULES else parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("export", "models"):
        parts = ["clave_lite", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(tree: ast.Module, package: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level?) for every import statement in ``tree``."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((base, node.lineno, id(node) in top))
            if base in ("clave_lite", "clave_lite.cli"):  # `from clave_lite import errors`
                found += [(f"{base}.{a.name}", node.lineno, id(node) in top) for a in node.names]
    return found


def violations(module: str, source: str) -> list[str]:
    """Every broken rule in one module's source, as ``module:line: what``."""
    layer = layer_of(module)
    package = module if module.count(".") < 1 else module.rsplit(".", 1)[0]
    out = []
    for target, line, top_level in imports(ast.parse(source), package):
        where = f"{module}:{line}"
        if layer != "export" and top_level and (target in HEAVY or target.split(".")[0] in HEAVY[:-1]
                                                or target.startswith("clave_lite.export.")):
            out.append(f"{where}: imports {target} at module level (only clave_lite.export may)")
        if target.split(".")[0] in LAZY and top_level:
            out.append(f"{where}: imports {target} at module level (an optional extra: import it where it is used)")
        if target.split(".")[0] == "ray" and layer != "engines":
            out.append(f"{where}: imports ray outside clave_lite.engines")
        if target.split(".")[0] in PLOTTING and (layer != "report" or top_level):
            out.append(f"{where}: imports {target} outside a function of clave_lite.report (the report extra)")
        if target.split(".")[0] == "click" and layer != "cli":
            out.append(f"{where}: imports click outside clave_lite.cli")
        if not target.startswith("clave_lite.") or target == "clave_lite":
            continue
        other = layer_of(target)
        if other == layer or (layer, target) in UPWARD_ALLOWED and not top_level:
            continue
        if other not in RANKS:  # a public name of the API facade, clave_lite/__init__ (LABELS, ...)
            other = "api"
        if RANKS[other] > RANKS[layer]:
            out.append(f"{where}: {layer} imports {target} from the higher layer {other}")
        elif RANKS[other] == RANKS[layer] and layer != "base":
            out.append(f"{where}: {layer} imports {target} from {other}, a layer of the same rank")
    return out


def code_files() -> list[Path]:
    return sorted([*(REPO / "clave_lite").rglob("*.py"), *(REPO / "export").rglob("*.py")])


def test_every_code_folder_is_a_known_layer():
    folders = {p.name for p in (REPO / "clave_lite").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders - set(RANKS) == set(), "a new subpackage needs a rank in RANKS (and docs/architecture.md)"


def test_the_code_keeps_the_import_rules():
    problems = [v for path in code_files() for v in violations(module_name(path), path.read_text(encoding="utf-8"))]
    assert problems == []


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("clave_lite.runtime.evaluator", "import torch\n", "at module level"),
    ("clave_lite.runtime.texts", "from clave_lite.export.train import train\n", "at module level"),
    ("clave_lite.core.tuples", "def f():\n    from clave_lite.runtime.evaluator import Evaluator\n", "higher layer"),
    ("clave_lite.calibration.run", "from clave_lite.adapt.job import adapt\n", "same rank"),
    ("clave_lite.evaluation.metrics", "import click\n", "click outside"),
    ("clave_lite.report.figures", "import matplotlib\n", "outside a function of clave_lite.report"),
    ("clave_lite.runtime.texts", "def f():\n    import jinja2\n", "outside a function of clave_lite.report"),
    ("clave_lite.report.job", "from clave_lite.adapt.job import adapt\n", "same rank"),
    ("clave_lite.jobs.batch_scoring", "import pyarrow\n", "optional extra"),
    ("clave_lite.jobs.parquet", "def f():\n    import ray\n", "ray outside"),
    ("clave_lite.engines.ray_data", "from clave_lite.report.job import build_report\n", "same rank"),
    ("clave_lite.runtime.evaluator", "from clave_lite.export.reference import TorchBackend\n", "at module level"),
    ("clave_lite.formats.manifest", "from clave_lite import __version__\n", "higher layer api"),
])
def test_the_checker_catches_each_kind_of_break(module, source, expected):
    found = violations(module, source)
    assert found and expected in found[0]


def test_the_checker_allows_what_the_rules_allow():
    assert violations("clave_lite.runtime.evaluator", "def load():\n    import torch\n"
                      "    from clave_lite.export.reference import TorchBackend\n") == []
    assert violations("clave_lite.export.train", "import torch\nfrom clave_lite.runtime.llamacpp import LlamaModel\n") == []
    assert violations("clave_lite.cli.app", "import click\nfrom clave_lite.adapt.job import adapt\n") == []


def import_graph() -> dict[str, set[str]]:
    """Module → the clave_lite modules it imports, at module level or inside functions (a loop
    through function-level imports is still a loop a reader must untangle)."""
    files = {module_name(p): p for p in code_files()}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        deps = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                # `from pkg import mod` imports the submodule; `from mod import name`, the module
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for name in names:
                while name and name not in files:
                    name = name.rsplit(".", 1)[0] if "." in name else ""
                if name and name != module and name != "clave_lite":
                    deps.add(name)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import loops: strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_back_through_others():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
