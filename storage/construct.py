"""The constructor of every table model: what SQLModel's does for a table, at a fraction of
its cost (issue 11 §2).

SQLModel builds a table row by setting each of its fields through three layers of
`__setattr__` (SQLModel's, pydantic's, SQLAlchemy's instrumented attribute), and asks pydantic
for every default, which inspects each default factory's signature every time: ~0.15 ms for
a conference, more than the SQL that inserts it. A table model does no validation on
construction either way, so the result here is the same object: the given values and each
missing field's default in the instance's `__dict__` (which is SQLAlchemy's state dict, read by
the INSERT), the given names as pydantic's `__pydantic_fields_set__`. Differences, on purpose:
a keyword that is not a field is an error (SQLModel drops it silently), and a class with
relationships, or a default factory that takes the validated data, is built by SQLModel's own
constructor. `tests/storage/test_construct.py` compares the two on every table.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic._internal._fields import takes_validated_data_argument
from sqlmodel import SQLModel
from sqlmodel._compat import finish_init

_IMMUTABLE = (str, int, float, bool, bytes, type(None), frozenset, tuple)


class _Plan:
    """Per class: each field's name, alias and how its default is made."""

    __slots__ = ("fields", "names")

    def __init__(self, cls: type[SQLModel]) -> None:
        self.fields: list[tuple[str, str | None, bool, Any, Any]] = []
        for name, field in cls.model_fields.items():
            factory = field.default_factory
            self.fields.append((name, field.alias, field.is_required(), field.default, factory))
        self.names = frozenset(name for name, *_ in self.fields) | frozenset(
            alias for _, alias, *_ in self.fields if alias
        )


_PLANS: dict[type[SQLModel], _Plan | None] = {}


def _plan_for(cls: type[SQLModel]) -> _Plan | None:
    """The class's plan; None if SQLModel's constructor must build it."""
    if cls in _PLANS:
        return _PLANS[cls]
    plan = _Plan(cls)
    by_sqlmodel = (
        bool(cls.__sqlmodel_relationships__)
        or cls.model_config.get("extra") == "allow"
        or any(f is not None and takes_validated_data_argument(f) for *_, f in plan.fields)
    )
    _PLANS[cls] = None if by_sqlmodel else plan
    return _PLANS[cls]


class Table(SQLModel):
    """The base of every table model in `storage.tables` (see the module docstring)."""

    def __init__(__pydantic_self__, **data: Any) -> None:
        if not finish_init.get():
            return  # model_validate builds the instance itself
        self = __pydantic_self__
        plan = _plan_for(type(self))
        if plan is None:
            super().__init__(**data)
            return
        unknown = data.keys() - plan.names
        if unknown:
            raise TypeError(f"{type(self).__name__}: not a field: {', '.join(sorted(unknown))}")
        values = self.__dict__
        given: set[str] = set()
        for name, alias, required, default, factory in plan.fields:
            if alias and alias in data:
                values[name] = data[alias]
                given.add(name)
            elif name in data:
                values[name] = data[name]
                given.add(name)
            elif factory is not None:
                values[name] = factory()
            elif not required:
                values[name] = (
                    default if isinstance(default, _IMMUTABLE) else copy.deepcopy(default)
                )
        object.__setattr__(self, "__pydantic_fields_set__", given)
