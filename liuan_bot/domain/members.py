"""Who someone is to the bot: their unit and roles (R1, R4)."""

from __future__ import annotations

from dataclasses import dataclass

from liuan_bot.domain.roles import Role, acts_for_all_units, may_act_for_unit


@dataclass(frozen=True)
class Member:
    """A registered WeCom member, as the rules see them."""

    userid: str
    name: str
    unit: str
    unit_type: str
    key_unit: bool
    roles: frozenset[Role]
    title: str = ""

    @property
    def city_wide(self) -> bool:
        """R1: the news office and the disclosure office act for every unit."""
        return acts_for_all_units(self.roles)

    def may_act_for(self, unit: str) -> bool:
        """R1: a member acts for their own unit; the news and disclosure offices for all."""
        return may_act_for_unit(self.roles, self.unit, unit)

    def role_names(self) -> str:
        order = list(Role)
        return "、".join(r.value for r in sorted(self.roles, key=order.index)) or "（无）"
