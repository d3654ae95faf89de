"""The layers point down only: a check over the imports of the product code.

edges (blueprints/, cli.py, app.py) -> services/ -> models/ (and events). No cycle
between packages or top-level modules, none inside services/, no database
session at the edges, and no import hidden inside a function unless a comment
on its line or the line above says why.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blueprints", "services", "schemas", "models")
TOP_LEVEL = ("app", "wsgi", "config", "errors", "extensions", "logs", "metrics", "cli")
# Who may import whom, by package: the edges sit above services, schemas beside them, models below.
MAY_IMPORT = {
    "models": {"extensions"},
    "schemas": {"models", "extensions"},
    "services": {"models", "schemas", "extensions", "errors", "metrics", "config"},
    "blueprints": {"services", "schemas", "models", "extensions", "errors", "metrics", "config"},
}


def product_modules(root=ROOT):
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    for name in TOP_LEVEL:
        if (root / f"{name}.py").exists():
            modules[name] = root / f"{name}.py"
    return modules


def _resolve(name, modules):
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def import_graph(modules):
    """module -> the product modules it imports (at any depth of its code)."""
    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            targets |= {target for target in (_resolve(n, modules) for n in names) if target and target != module}
        graph[module] = targets
    return graph


def cycles(graph):
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module):
    return module.split(".")[0]


def package_graph(graph):
    packages = {}
    for module, targets in graph.items():
        for target in targets:
            if package_of(target) != package_of(module):
                packages.setdefault(package_of(module), set()).add(package_of(target))
        packages.setdefault(package_of(module), set())
    return packages


@pytest.fixture(scope="module")
def graph():
    return import_graph(product_modules())


def test_the_checker_finds_a_cycle_and_an_upward_import(tmp_path):
    """The check itself: a planted cycle inside services/ and a schema importing a service are seen."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "services" / "a.py").write_text("from services.b import x\n")
    (tmp_path / "services" / "b.py").write_text("def f():\n    from services.a import y\n")
    (tmp_path / "schemas" / "s.py").write_text("from services.a import z\n")
    planted = import_graph(product_modules(tmp_path))
    assert cycles(planted) == [["services.a", "services.b"]]
    assert "services" in package_graph(planted)["schemas"]


def test_no_cycle_between_packages_or_top_level_modules(graph):
    assert cycles(package_graph(graph)) == []


def test_no_cycle_inside_any_package(graph):
    assert cycles(graph) == []


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_downwards(graph, package):
    upward = {f"{module} -> {target}" for module, targets in graph.items() if package_of(module) == package
              for target in targets if package_of(target) not in MAY_IMPORT[package] | {package}}
    assert upward == set()


def _uses_db_session(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "session" \
                and isinstance(node.value, ast.Name) and node.value.id == "db":
            yield node.lineno


def test_no_database_session_at_the_edges():
    """Blueprints (the socket protocol included) parse, authorise and call services; services own the session."""
    used = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "blueprints").glob("*.py"))
            for line in _uses_db_session(path)]
    assert used == []


def _justified(lines, lineno):
    """A comment on the import's line or on the line just above it says why it is not at the top."""
    here = lines[lineno - 1]
    above = lines[lineno - 2].strip() if lineno >= 2 else ""
    return "#" in here or above.startswith("#")


def test_imports_inside_functions_say_why():
    hidden = []
    for module, path in product_modules().items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and not _justified(lines, inner.lineno):
                        hidden.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert sorted(set(hidden)) == []


def test_every_function_that_commits_is_a_do_function():
    """A reader can tell from its name which call ends a transaction."""
    allowed = {"services/core.py": {"transaction", "run", "commit_keeping"}}  # the unit of work itself
    found = []
    for path in sorted((ROOT / "services").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or node.name.lstrip("_").startswith("do_"):
                continue
            commits = any(isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                          and call.func.attr == "commit" for call in ast.walk(node))
            wrapped = any(isinstance(d, ast.Name) and d.id == "transaction" for d in node.decorator_list)
            if (commits or wrapped) and node.name not in allowed.get(f"services/{path.name}", ()):
                found.append(f"services/{path.name}:{node.lineno} {node.name}")
    assert found == []
