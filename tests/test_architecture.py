"""Import direction: app → {bot, newsletter, archive} → core → storage, checked on every module's AST;
and SQL only in storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "core", "bot", "newsletter", "archive", "app")
FRONT_ENDS = ("bot", "newsletter", "archive")
# What each package may import from this project.
ALLOWED = {
    "storage": {"storage"},
    "core": {"core", "storage"},
    "bot": {"bot", "core", "storage"},
    "newsletter": {"newsletter", "core", "storage"},
    "archive": {"archive", "core", "storage"},
    "app": set(PACKAGES),
}
# Third-party modules kept at the edges.
FORBIDDEN_THIRD_PARTY = {
    "core": {"slack_bolt", "slack_sdk", "smtplib", "premailer"},
    "storage": {"httpx", "slack_bolt", "slack_sdk", "smtplib", "premailer", "jinja2"},
}


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    imported = _imports(path)
    ours = imported & set(PACKAGES)
    assert ours <= ALLOWED[package], f"{package} may not import {sorted(ours - ALLOWED[package])}"
    banned = imported & FORBIDDEN_THIRD_PARTY.get(package, set())
    assert not banned, f"{package} may not import {sorted(banned)}"


def test_every_front_end_is_a_package_mounted_by_the_app() -> None:
    """The archive is a front-end like Slack and email: its own package, mounted by app/web.py."""
    web = _imports(ROOT / "app" / "web.py")
    for front_end in FRONT_ENDS:
        assert (ROOT / front_end / "__init__.py").exists(), front_end
        assert front_end in web, f"app/web.py does not mount {front_end}"
    assert not (ROOT / "app" / "search_page.py").exists()


# The SQL builders and runners front-ends and the app leave to storage (storage/__init__.py).
SQL_NAMES = {"text", "select", "insert", "update", "delete", "inspect", "func", "col", "or_"}
SQL_CALLS = {"exec", "execute", "exec_driver_sql", "scalar", "scalars"}


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if p.relative_to(ROOT).parts[0] in (*FRONT_ENDS, "app")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_front_ends_run_no_sql_of_their_own(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    built = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").split(".")[0] in {"sqlalchemy", "sqlmodel"}
        for alias in node.names
    } & SQL_NAMES
    run = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    } & SQL_CALLS
    assert not built and not run, f"ask a storage function instead of {sorted(built | run)}"
