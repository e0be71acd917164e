"""Roles of the roster and who acts for whom (R1, R2, R4).

R1: the news office and the disclosure office act for every unit; everyone else acts only
for their own unit.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A person's role in the press-release mechanism; the value is the roster's Chinese name."""

    MAIN_LEADER = "主要负责人"
    SPOKESPERSON = "新闻发言人"
    LIAISON = "联络员"
    NEWS_OFFICE = "新闻办"
    DISCLOSURE_OFFICE = "政务公开办"
    APPROVER = "副秘书长"
    EXPERT = "专家"
    CHANNEL_EDITOR = "渠道编辑"
    ADMIN = "管理员"


# Roster spellings people actually type, mapped to the canonical role.
ROLE_ALIASES: dict[str, Role] = {
    **{role.value: role for role in Role},
    "发言人": Role.SPOKESPERSON,
    "主要领导": Role.MAIN_LEADER,
    "负责人": Role.MAIN_LEADER,
    "新闻办公室": Role.NEWS_OFFICE,
    "公开办": Role.DISCLOSURE_OFFICE,
    "审批人": Role.APPROVER,
    "编辑": Role.CHANNEL_EDITOR,
}

# R1: roles that see and act on every unit.
CITY_WIDE_ROLES: frozenset[Role] = frozenset({Role.NEWS_OFFICE, Role.DISCLOSURE_OFFICE})

# Everyone who may act for their own unit's filings.
UNIT_ROLES: frozenset[Role] = frozenset({Role.MAIN_LEADER, Role.SPOKESPERSON, Role.LIAISON})

ALL_ROLES: frozenset[Role] = frozenset(Role)


def parse_role(text: str) -> Role | None:
    """The role named by `text` (canonical name or alias), or None."""
    return ROLE_ALIASES.get(text.strip())


def acts_for_all_units(roles: frozenset[Role]) -> bool:
    """R1: news office and disclosure office act on every unit."""
    return bool(roles & CITY_WIDE_ROLES)


def may_act_for_unit(roles: frozenset[Role], own_unit: str, target_unit: str) -> bool:
    """R1: whether someone with `roles` in `own_unit` may act for `target_unit`."""
    return acts_for_all_units(roles) or own_unit == target_unit
