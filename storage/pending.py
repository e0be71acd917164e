"""A transaction's new ORM objects, inserted at commit by prepared statements (issue 11 §1).

A write message adds one or two records (`session.add(Conference(...))`, a `Card`, a
`HotIssue`); the ORM's unit of work then spends ~0.15 ms per object at commit (dependency
sort, state bookkeeping, bulk-persistence set-up, SQLAlchemy's statement execution) for one
INSERT of 5–10 µs. `insert_pending` runs those INSERTs itself, just before the commit: one
`storage.prepared` INSERT … RETURNING id per object, in the order the unit of work would use
(tables in foreign-key order, then the order they were added), with the same bind processors.
Each object then ends as a committed ORM object does once its session closes: detached, with
its primary key, every attribute loaded, able to be added to another session as persistent.

Whenever that could differ from a flush, the unit of work does it all instead: an object of a
mapper with relationships, inheritance, a version column, insert events or a composite key;
one whose primary key is already set; a column left to a database or Python default; or a
transaction that also deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, insert
from sqlalchemy import inspect as sa_inspect
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.prepared import Prepared, rows

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _TableInsert:
    rank: int  # the table's place in foreign-key order
    pk: str  # the primary key's attribute
    keys: tuple[str, ...]  # the INSERT's columns
    attributes: tuple[str, ...]  # the attribute of each
    defaulted: frozenset[str]  # attributes whose column has a default (None: leave to ORM)
    statement: Prepared


_PLANS: dict[type, _TableInsert | None] = {}


def _plan_for(cls: type) -> _TableInsert | None:
    if cls in _PLANS:
        return _PLANS[cls]
    plan = None
    mapper: Any = sa_inspect(cls, raiseerr=False)
    if (
        mapper is not None
        and len(mapper.tables) == 1
        and mapper.inherits is None
        and not mapper.relationships
        and mapper.version_id_col is None
        and not mapper.dispatch.before_insert
        and not mapper.dispatch.after_insert
        and len(mapper.primary_key) == 1
        and isinstance(mapper.primary_key[0].type, Integer)
    ):
        table = mapper.local_table
        pk_column = mapper.primary_key[0]
        columns = [c for c in table.columns if c is not pk_column]
        props = {c: mapper.get_property_by_column(c).key for c in table.columns}
        if all(len(mapper.get_property_by_column(c).columns) == 1 for c in table.columns):
            order = {t: i for i, t in enumerate(SQLModel.metadata.sorted_tables)}
            keys = [c.key for c in columns]
            plan = _TableInsert(
                rank=order.get(table, len(order)),
                pk=props[pk_column],
                keys=tuple(keys),
                attributes=tuple(props[c] for c in columns),
                defaulted=frozenset(
                    props[c] for c in columns if c.default is not None or c.server_default
                ),
                statement=Prepared(insert(table).returning(pk_column), keys=keys),
            )
    _PLANS[cls] = plan
    return plan


def _values(plan: _TableInsert, state: Any) -> dict[str, Any] | None:
    loaded = state.dict
    if loaded.get(plan.pk) is not None:
        return None
    values = {}
    for key, attribute in zip(plan.keys, plan.attributes, strict=True):
        value = loaded.get(attribute, _MISSING)
        if value is _MISSING or (value is None and attribute in plan.defaulted):
            return None
        values[key] = value
    return values


async def insert_pending(session: AsyncSession) -> int:
    """INSERT the session's new objects as described above; the number inserted (0 when the
    unit of work is left to do it)."""
    sync = session.sync_session
    if not sync.new or sync.deleted:
        return 0
    work = []
    for obj in sync.new:
        plan = _plan_for(type(obj))
        state: Any = sa_inspect(obj)
        values = _values(plan, state) if plan is not None else None
        if plan is None or values is None:
            return 0
        work.append((plan.rank, state.insert_order or 0, plan, obj, values))
    work.sort(key=lambda item: item[:2])
    done = []
    for _rank, _order, plan, obj, values in work:
        ((pk,),) = await rows(session, plan.statement, values)
        done.append((plan, obj, pk))
    for plan, obj, pk in done:
        _settle(sync, obj, plan.pk, pk)
    return len(done)


def _settle(sync: Any, obj: Any, pk_attribute: str, pk: int) -> None:
    """End `obj`, inserted as `pk`, as `sync.expunge(obj)`, `setattr(obj, pk_attribute, pk)`
    and `make_transient_to_detached(obj)` would, without their event, cascade and history
    machinery (~15 µs an object; `_plan_for` admits only mappers without relationships, so
    there is nothing to cascade, and every attribute is loaded, so nothing to expire):
    out of the session's new objects, its key set, its attributes committed (which also
    drops the session's strong reference), the key among pydantic's set fields as an
    assignment adds it. `tests/storage/test_prepared.py` compares the result with those
    three calls'."""
    state: Any = sa_inspect(obj)
    del sync._new[state]
    state.session_id = None
    state.dict[pk_attribute] = pk
    obj.__pydantic_fields_set__.add(pk_attribute)
    state.key = state.mapper._identity_key_from_state(state)
    state._commit_all(state.dict)
