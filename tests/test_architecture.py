"""Dependencies point one way; the domain is pure; nothing reads the clock or env bare."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"liuan_bot", "__future__"}
    for path in files("liuan_bot/domain"):
        foreign = imports_of(path) - allowed
        assert not foreign, f"{path.name} imports {foreign}"
        text = path.read_text(encoding="utf-8")
        assert "liuan_bot.wecom" not in text
        assert "liuan_bot.settings" not in text


def test_the_core_never_imports_handlers_storage_or_bot() -> None:
    for path in files("liuan_bot"):
        assert not imports_of(path) & {"handlers", "storage", "bot"}, path


def test_handlers_never_touch_the_wire_format() -> None:
    for path in files("handlers"):
        assert not imports_of(path) & {"aiohttp", "wechatpy", "xmltodict"}, path


def test_no_bare_clock_and_no_environment_reads_outside_the_composition_root() -> None:
    bare_clock = re.compile(r"datetime\.(now|utcnow)\(\)|date\.today\(\)|time\.time\(\)")
    for package in ("liuan_bot", "handlers", "storage"):
        for path in files(package):
            text = path.read_text(encoding="utf-8")
            assert not bare_clock.search(text), path
            assert "os.environ" not in text, path
            assert "getenv" not in text, path


# Issue 11 §3: all SQL lives in storage/. The handlers cleaned so far; the integrator widens
# the list as the other handler files are cleaned.
SQL_FREE_HANDLERS = (
    "status.py",
    "conferences.py",
    "decisions.py",
    "incidents.py",
    "speakers.py",
)


def test_cleaned_handlers_import_no_sql_and_storage_never_imports_handlers() -> None:
    for name in SQL_FREE_HANDLERS:
        path = ROOT / "handlers" / name
        assert not imports_of(path) & {"sqlmodel", "sqlalchemy"}, path
        assert "select(" not in path.read_text(encoding="utf-8"), path
    for path in files("storage"):
        assert "handlers" not in imports_of(path), path


def names_imported_from(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import) and any(a.name == module for a in node.names):
            names.add("*")  # `import storage.outbox_store` would reach enqueue as an attribute
    return names


def test_only_the_context_writes_the_outbox_issue11_s4() -> None:
    """Issue 11 §4: handlers push through `Context.push` (or, outside a Context, the one
    helper `handlers.context.queue`); nothing else in handlers/ reaches `enqueue`."""
    writers = {
        path.name
        for path in files("handlers")
        if names_imported_from(path, "storage.outbox_store") & {"enqueue", "*"}
    }
    assert writers == {"context.py"}
    for path in files("handlers"):
        if path.name != "context.py":
            assert "outbox_store.enqueue" not in path.read_text(encoding="utf-8"), path
