"""The package's shape: imports between its modules form no circle, and each layer only looks down.

Every import statement counts: at module level, inside functions (lazy imports) and under ``TYPE_CHECKING``.
A lazy import still ties two modules together for a reader, and a type-only import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tracker

PACKAGE = Path(tracker.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module of ours that an imported name lives in (``tracker.x.y.Thing`` -> ``tracker.x.y``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str) -> Iterator[str]:
    path = MODULES[module]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name)
            if owner is not None and owner != module:
                yield owner


GRAPH = {module: set(_imported(module)) for module in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(GRAPH):
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_sees_imports_of_every_kind() -> None:
    """The graph is not empty by mistake: a lazy, a type-only and a relative-free import are all seen."""
    assert "tracker.measure.sampler" in GRAPH["tracker.core.run"]  # inside a function
    assert "tracker.grid.location" in GRAPH["tracker.core.state"]  # under TYPE_CHECKING
    assert "tracker.carbon.accounting" in GRAPH["tracker.core.finish"]  # at module level


def test_imports_form_no_circle() -> None:
    cycles = _cycles()
    described = [" <-> ".join(c) + ": " + "; ".join(f"{m} -> {sorted(GRAPH[m] & set(c))}" for m in c) for c in cycles]
    assert not cycles, "\n".join(described)


def _reach(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for child in GRAPH[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


LEAVES = {"tracker.stores.locations"}  # parses a location string (config checks ``store=``): opens no store


def test_measuring_never_looks_up_at_runs_reports_or_stores() -> None:
    """Data flows one way: sources -> sampler/meter -> (the run's end) -> records -> stores -> reports."""
    layers_above = ("tracker.core", "tracker.reports", "tracker.stores", "tracker.exporters", "tracker.cli")
    for module in (m for m in MODULES if m.startswith("tracker.measure")):
        above = {m for m in _reach(module) if m.startswith(layers_above)} - LEAVES
        assert not above, f"{module} reaches {sorted(above)}"


def test_accounting_is_pure_the_live_provider_is_passed_in() -> None:
    direct = GRAPH["tracker.carbon.accounting"]
    assert not {m for m in direct if m.startswith(("tracker.stores", "tracker.core", "tracker.exporters"))}
    assert "tracker.grid.electricitymaps" not in direct
    source = MODULES["tracker.carbon.accounting"].read_text(encoding="utf-8")
    assert "requests" not in source and "urllib" not in source and "open(" not in source
