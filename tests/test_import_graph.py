"""The package's modules import one another without cycles.

Imports inside functions count: a cycle hidden in a function still ties two modules into one
unit (and breaks as soon as someone hoists the import). Imports under ``if TYPE_CHECKING:`` do
not run and are left out. A name taken from a lazy package (``_EXPORTS``) is an edge to the
submodule that defines it, since that is what the import runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "sedflow_dask"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _type_checking_names(module: str, tree: ast.Module) -> dict[str, str]:
    """Name -> submodule (relative, as ``_EXPORTS`` writes it) of a module's ``if TYPE_CHECKING:`` imports."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom), f"{module}: only 'from .x import y' under TYPE_CHECKING"
                names.update({a.asname or a.name: "." * imp.level + (imp.module or "") for a in imp.names})
    return names


def _runtime_imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _trees() -> dict[str, ast.Module]:
    return {m: ast.parse(p.read_text(), str(p)) for m, p in _modules().items()}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    trees = _trees()
    exports = {m: _lazy_exports(t) for m, t in trees.items()}

    def target(base: str, name: str) -> str:
        if f"{base}.{name}" in modules:
            return f"{base}.{name}"
        if name in exports.get(base, {}):
            return _absolute(base, True, ast.ImportFrom(module=exports[base][name].lstrip("."), level=1))
        return base

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, tree in trees.items():
        is_package = modules[module].name == "__init__.py"
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                found = {a.name for a in node.names}
            else:
                base = _absolute(module, is_package, node)
                found = {target(base, a.name) for a in node.names}
            graph[module] |= {m for m in found if m in modules and m != module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, c) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    path, seen = [start], {start}
    while True:
        nxt = min(w for w in graph[path[-1]] if w in component)
        if nxt in seen:
            return path[path.index(nxt):] + [nxt]
        path.append(nxt)
        seen.add(nxt)


def test_the_graph_sees_function_level_and_lazy_imports():
    graph = import_graph()
    assert "sedflow_dask.runtime" in graph["sedflow_dask.cli"]  # imported inside main()
    assert "sedflow_dask.cli_args" in graph["sedflow_dask.infer.cli"]  # imported inside register()
    assert graph["sedflow_dask.sps"] == {"sedflow_dask._lazy"}  # TYPE_CHECKING imports do not run


def test_a_cycle_is_found_and_printed():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_lazy_packages_show_type_checkers_exactly_their_exports():
    lazy = {m: (_lazy_exports(t), _type_checking_names(m, t)) for m, t in _trees().items() if _lazy_exports(t)}
    assert "sedflow_dask.infer" in lazy and "sedflow_dask.ingest.readers" in lazy
    for module, (exports, seen) in lazy.items():
        assert seen == exports, f"{module}: TYPE_CHECKING imports differ from _EXPORTS"
