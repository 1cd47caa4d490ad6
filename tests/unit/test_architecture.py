"""The package's shape, read from its imports (function-level ones included).

Arrows only point down: the packages' import graph has no cycle, the data path's two sides
meet only in the dependency-free ``userstream.contract``, the local runtime (``stack``)
imports nothing that runs on it, and no module imports another package's private module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "userstream"


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path) -> Iterator[str]:
    """Every ``userstream…`` name ``path`` imports: modules, and names from them."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "userstream":
                yield node.module
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "userstream")


def _part(name: str) -> str:
    """The package (or top-level module) of ``userstream`` that ``name`` belongs to."""
    parts = name.split(".")
    return "userstream" if len(parts) == 1 or parts[1] == "__version__" else parts[1]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in _modules():
        edges = graph.setdefault(_part(module), set())
        edges.update(_part(name) for name in _imports(path))
    for part, edges in graph.items():
        edges.discard(part)
    return graph


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        part = todo.pop()
        if part not in seen:
            seen.add(part)
            todo.extend(graph.get(part, ()))
    return seen


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = _graph()
    cycles = sorted(part for part in graph if part in _reaches(graph, part))
    assert not cycles, f"in an import cycle: {cycles}"


def test_no_module_imports_a_private_module_of_another_package() -> None:
    crossing = []
    for module, path in _modules():
        for name in _imports(path):
            parts = name.split(".")
            private = [p for p in parts[1:] if p.startswith("_") and not p.startswith("__")]
            if private and _part(name) != _part(module):
                crossing.append(f"{module} imports {name}")
    assert not crossing, "\n".join(crossing)


def test_the_contract_depends_on_nothing() -> None:
    names = list(_imports(PACKAGE / "contract.py"))
    assert names == [], names


@pytest.mark.parametrize(
    ("part", "never"),
    [
        # The two sides of Kafka meet only in the contract.
        ("source", {"producing", "producer", "streaming", "stack", "orchestration"}),
        ("producing", {"streaming", "stack", "orchestration", "pipeline"}),
        ("streaming", {"source", "producing", "producer", "orchestration", "pipeline"}),
        # The local runtime runs the parts; it imports none of what runs on it.
        ("stack", {"streaming", "producing", "producer", "orchestration", "pipeline",
                   "status", "dashboard", "quality", "cli"}),
        # Nothing but the entry points imports the CLI, the dashboard or the DAG tasks.
        ("store", {"stack", "streaming", "orchestration", "cli"}),
    ],
)  # fmt: skip
def test_the_data_path_and_the_runtime_stay_apart(part: str, never: set[str]) -> None:
    reached = _reaches(_graph(), part)
    assert not reached & never, f"{part} reaches {sorted(reached & never)}"


def test_only_entry_points_import_the_cli_and_the_dashboard() -> None:
    for part, edges in _graph().items():
        if part not in {"__main__", "cli"}:
            assert "cli" not in edges, part
        if part not in {"cli", "dashboard"}:
            assert "dashboard" not in edges, part


def _module_graph() -> dict[str, set[str]]:
    """Module → the ``userstream`` modules it imports (a name from a module is that module)."""
    modules = dict(_modules())
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, set())
        for name in _imports(path):
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules and name != module:
                edges.add(name)
    return graph


@pytest.mark.parametrize(
    "entry",
    ["userstream.streaming.job", "userstream.streaming.batch_writer",
     "userstream.streaming.cassandra_writer"],
)  # fmt: skip
def test_the_spark_job_runs_free_of_the_local_runtime(entry: str) -> None:
    """The job gets what it needs (jars, a cluster's environment) from whoever starts it:
    it runs in a pod or on YARN with no process manager of ours beside it."""
    reached = _reaches(_module_graph(), entry)
    runtime = sorted(m for m in reached if _part(m) in {"stack", "pipeline", "cli"})
    assert not runtime, f"{entry} reaches the local runtime through {runtime}"
