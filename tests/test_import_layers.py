"""The import graph of tfaffect, built from the source (ast; imports inside functions included): no cycle,
and no module imports from a layer above its own (DESIGN.md, "The house"):

errors/io -> metrics/published/plots -> data -> models/losses -> evaluation/report -> training ->
export/convert -> predict -> cli.

The package's ``__init__`` (version, class names), ``_lazy`` and the error ``boundary`` every entry point
shares sit with errors/io; ``__main__`` (``python -m tfaffect``) and ``launch`` (the command line of training,
which trains and exports) sit with cli.
"""

import ast
import collections
from pathlib import Path

import pytest

import tfaffect

ROOT = Path(tfaffect.__file__).resolve().parent

LAYERS = (
    ("__init__", "_lazy", "errors", "io", "boundary"),
    ("metrics", "published", "plots"),
    ("data",),
    ("models", "losses"),
    ("evaluation", "report"),
    ("training",),
    ("export", "convert"),
    ("predict",),
    ("cli", "launch", "__main__"),
)


def module_name(path: Path) -> str:
    parts = ["tfaffect", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module}: its layer is not in LAYERS (tests/test_import_layers.py); add it")


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The tfaffect modules ``module`` imports anywhere in its source (``from pkg import name`` counts as
    importing ``pkg.name`` when that is a module, else ``pkg``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "tfaffect")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "tfaffect":
                continue
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
    found.discard(module)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports(module, path, known) for module, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(graph()) == []


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
              for module, targets in graph().items() for target in sorted(targets) if layer(target) > layer(module)]
    assert upward == []


@pytest.mark.parametrize("source", [
    "from tfaffect.training.trainer import train\n",  # data -> training
    "def f():\n    from tfaffect import cli\n",        # inside a function too
])
def test_the_checks_see_an_upward_import(tmp_path, source):
    known = {"tfaffect.data.example": tmp_path / "example.py", "tfaffect.training.trainer": Path("trainer.py"),
             "tfaffect.cli": Path("cli.py")}
    (tmp_path / "example.py").write_text(source)
    targets = imports("tfaffect.data.example", tmp_path / "example.py", known)
    assert any(layer(t) > layer("tfaffect.data.example") for t in targets)


def test_the_cycle_check_finds_a_cycle_through_three_modules():
    edges = collections.defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycles(edges) == [["a", "b", "c"]]
