"""The code's shape, checked over the project's own source (issue 14).

* Only ``settings.py`` touches the environment: everything else gets a :class:`settings.Settings`.
* No module over 300 lines (migrations aside) and no function over 60: one concept per module,
  functions that read without scrolling.

Read with ``ast``, so a comment or docstring that names ``os.environ`` does not count. The source is
``app.py``, ``settings.py`` and the packages ``bot``, ``cadence``, ``graph``, ``store`` (without its
migrations) and ``web``; ``tests/`` and ``bench/`` are not held to these rules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
ENVIRONMENT_READER = "settings.py"

PENDING_MODULES = {
    "cadence/jobs.py",
    "cadence/touches.py",
    "cadence/turns.py",
    "graph/playbook.py",
    "store/models.py",
    "web/dashboard.py",
}
"""Modules over the limit that are being split (issue 14). Remove an entry once its module fits:
an entry that no longer offends fails ``test_the_pending_lists_name_only_code_still_over_its_limit``,
so the list only shrinks. Add nothing here."""

PENDING_FUNCTIONS = {
    ("cadence/touches.py", "prepare_batch"),
    ("cadence/worker.py", "main"),
}
"""Functions over the limit that are being split (issue 14), as (path, qualified name). Same rule as
``PENDING_MODULES``: remove an entry with its fix, add nothing."""

OS_ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
"""What ``os`` offers to read or change the process environment."""


def source_files() -> list[Path]:
    """The project's own modules, relative to the repository root."""
    files = [Path("app.py"), Path("settings.py")]
    for package in ("bot", "cadence", "graph", "store", "web"):
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
    assert read == {"app.py", "settings.py", "bot", "cadence", "graph", "store", "web"}
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


def test_no_module_is_over_300_lines_except_those_being_split():
    over = {path: n for path, n in long_modules().items() if path not in PENDING_MODULES}
    assert not over, f"split into modules of one concept (at most {MAX_MODULE_LINES} lines): {over}"


def test_no_function_is_over_60_lines_except_those_being_split():
    over = {f"{path}:{name}": n for (path, name), n in long_functions().items() if (path, name) not in PENDING_FUNCTIONS}
    assert not over, f"split into functions of at most {MAX_FUNCTION_LINES} lines: {over}"


def test_the_pending_lists_name_only_code_still_over_its_limit():
    fixed = sorted(PENDING_MODULES - set(long_modules())) + \
        [f"{path}:{name}" for path, name in sorted(PENDING_FUNCTIONS - set(long_functions()))]
    assert not fixed, f"now within the limits: take these off the PENDING lists in tests/test_layout.py: {fixed}"
