"""Table models are built by `storage.construct.Table` (issue 11 §2): the same object SQLModel's
own constructor builds, field for field, on every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import SQLModel

from storage import tables
from storage.construct import Table, _plan_for

TABLES = sorted(
    (
        cls
        for cls in vars(tables).values()
        if isinstance(cls, type) and issubclass(cls, Table) and hasattr(cls, "__table__")
    ),
    key=lambda cls: cls.__name__,
)
NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _by_sqlmodel(cls: type[Table], data: dict[str, Any]) -> Table:
    """What SQLModel's constructor makes of `data` (on a fresh instance of `cls`)."""
    instance = cls()
    for key in [k for k in instance.__dict__ if k != "_sa_instance_state"]:
        del instance.__dict__[key]
    SQLModel.__init__(instance, **data)
    return instance


def _fields(instance: Table) -> dict[str, Any]:
    return {k: v for k, v in instance.__dict__.items() if k != "_sa_instance_state"}


def _sample(cls: type[Table]) -> dict[str, Any]:
    """A value for every required field and one optional one."""
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if not field.is_required():
            continue
        annotation = str(field.annotation)
        if "datetime" in annotation:
            values[name] = NOW
        elif "int" in annotation:
            values[name] = 7
        elif "bool" in annotation:
            values[name] = True
        elif "list" in annotation:
            values[name] = ["甲"]
        elif "dict" in annotation:
            values[name] = {"k": 1}
        else:
            values[name] = f"{name}-值"
    return values


def test_every_table_model_uses_the_fast_constructor() -> None:
    assert len(TABLES) == 28
    assert all(_plan_for(cls) is not None for cls in TABLES)


@pytest.mark.parametrize("cls", TABLES, ids=lambda cls: cls.__name__)
def test_the_fast_constructor_builds_what_sqlmodel_builds(cls: type[Table]) -> None:
    for data in ({}, _sample(cls)):
        fast, slow = cls(**data), _by_sqlmodel(cls, dict(data))
        assert _fields(fast) == _fields(slow)
        assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__ == set(data)
        assert fast.model_dump() == slow.model_dump()


def test_defaults_are_fresh_per_instance() -> None:
    first = tables.Conference(**_sample(tables.Conference))
    second = tables.Conference(**_sample(tables.Conference))
    first.held_speakers.append("张三")
    assert second.held_speakers == []


def test_a_keyword_that_is_not_a_field_is_an_error() -> None:
    with pytest.raises(TypeError, match="not a field: topik"):
        tables.Conference(topik="错字")


async def test_a_fast_built_row_is_stored_and_read_back(tmp_path: Any) -> None:
    from storage.engine import make_engine, make_session_factory, transaction
    from storage.migrate import upgrade

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    try:
        await upgrade(engine)
        sessions = make_session_factory(engine)
        async with transaction(sessions) as session:
            unit = tables.Unit(
                name="市新闻办", unit_type="news_office", created_at=NOW, updated_at=NOW
            )
            session.add(unit)
        async with sessions() as session:
            stored = await session.get(tables.Unit, unit.id)
            assert stored is not None
            assert (stored.name, stored.key_unit, stored.created_at) == ("市新闻办", False, NOW)
    finally:
        await engine.dispose()
