"""The code's shape, checked over the project's own source (issue 14).

* Only ``settings.py`` touches the environment: everything else gets a :class:`settings.Settings`.
* No module over 300 lines (migrations aside) and no function over 60: one concept per module,
  functions that read without scrolling.

Read with ``ast``, so a comment or docstring that names ``os.environ`` does not count. The source is
``app.py``, ``settings.py`` and the packages ``bot``, ``cadence``, ``graph``, ``jobs``, ``runtime``, ``store``
(without its migrations) and ``web``; ``tests/`` and ``bench/`` are not held to these rules.

The one-way imports between packages are import-linter's contracts (``pyproject.toml``, ``make lint``); it
cannot hold single modules, so the two at the ends are checked here: nothing imports ``app`` (the composition
root) and ``settings`` imports nothing of ours.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
ENVIRONMENT_READER = "settings.py"
PACKAGES = ("bot", "cadence", "graph", "jobs", "runtime", "store", "web")

OS_ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
"""What ``os`` offers to read or change the process environment."""


def source_files() -> list[Path]:
    """The project's own modules, relative to the repository root."""
    files = [Path("app.py"), Path("settings.py")]
    for package in PACKAGES:
        files += [p.relative_to(ROOT) for p in (ROOT / package).rglob("*.py")
                  if p.relative_to(ROOT).parts[:2] != ("store", "migrations")]
    return sorted(files)


def parse(path: Path) -> ast.Module:
    return ast.parse((ROOT / path).read_text(), filename=str(path))


def environment_access(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, what) for each use of the environment through ``os`` (``os.environ``, ``os.getenv``…), under any alias
    it was imported as (``import os as o``, ``from os import environ``)."""
    modules, names = {"os"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names |= {a.asname or a.name for a in node.names if a.name in OS_ENVIRONMENT}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in OS_ENVIRONMENT \
                and isinstance(node.value, ast.Name) and node.value.id in modules:
            yield node.lineno, f"{node.value.id}.{node.attr}"
        elif isinstance(node, ast.Name) and node.id in names:
            yield node.lineno, node.id


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(qualified name, lines from ``def`` to its last line) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node.end_lineno - node.lineno + 1
            yield from functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def long_modules() -> dict[str, int]:
    return {path.as_posix(): n for path in source_files()
            if (n := len((ROOT / path).read_text().splitlines())) > MAX_MODULE_LINES}


def long_functions() -> dict[tuple[str, str], int]:
    return {(path.as_posix(), name): n for path in source_files() for name, n in functions(parse(path))
            if n > MAX_FUNCTION_LINES}


def test_the_layout_reads_every_package_of_the_project():
    read = {path.parts[0] for path in source_files()}
    assert read == {"app.py", "settings.py", *PACKAGES}
    assert not any(path.parts[:2] == ("store", "migrations") for path in source_files())


def test_only_settings_reads_or_changes_the_environment():
    found = [f"{path}:{line}: {what}" for path in source_files() if path.as_posix() != ENVIRONMENT_READER
             for line, what in environment_access(parse(path))]
    assert not found, "read the value from settings.Settings (or add a helper to settings.py): " + "; ".join(found)


def test_environment_access_is_found_under_any_import_name_but_not_in_text():
    tree = ast.parse('"""os.environ in a docstring"""\nimport os as o\nfrom os import getenv as ge, environ\n'
                     '# os.environ["X"] in a comment\no.environ["A"]\nge("B")\nenviron.get("C")\n'
                     'settings = {}\nsettings["environ"]\nenv = {}\nenv["proxies"]\n')
    assert sorted(environment_access(tree)) == [(5, "o.environ"), (6, "ge"), (7, "environ")]


def test_no_module_is_over_300_lines():
    assert not long_modules(), f"split into modules of one concept (at most {MAX_MODULE_LINES} lines): {long_modules()}"


def test_no_function_is_over_60_lines():
    over = {f"{path}:{name}": n for (path, name), n in long_functions().items()}
    assert not over, f"split into functions of at most {MAX_FUNCTION_LINES} lines: {over}"


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module an ``import`` or ``from … import`` names, at any depth (function-local imports too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nothing_imports_the_composition_root():
    importers = [path.as_posix() for path in source_files() if "app" in imported_modules(parse(path))]
    assert not importers, f"app.py composes the others; take what you need from the runtime instead: {importers}"


def test_settings_imports_nothing_of_ours():
    ours = {m for m in imported_modules(parse(Path(ENVIRONMENT_READER))) if m.split(".")[0] in (*PACKAGES, "app")}
    assert not ours, f"settings.py is the bottom layer: {ours}"


def exception_modules(package: str) -> set[str]:
    """The modules of ``package`` that define an exception class (a base named ``…Error``, ``…Exception``,
    ``…Refused`` or one of the package's own exceptions)."""
    found = set()
    for path in source_files():
        if path.parts[0] != package:
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception", "Refused", "Unreachable",
                                                               "Unknown")) for b in node.bases):
                found.add(path.as_posix())
    return found


def test_each_package_keeps_its_exceptions_in_one_module():
    spread = {package: sorted(modules) for package in PACKAGES if len(modules := exception_modules(package)) > 1}
    assert not spread, f"one exceptions module per package, its docstring drawing the tree: {spread}"


def test_every_package_states_its_concept():
    missing = [path.as_posix() for path in source_files() if path.name == "__init__.py"
               and not ast.get_docstring(parse(path))]
    assert not missing, f"say the package's one concept in its __init__.py docstring: {missing}"
