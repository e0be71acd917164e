"""R1/R2: who may run which command — every role × every command, through the dispatcher.

The table below is the product decision, written out by hand, so a change to any command's
roles has to change it too.
"""

from __future__ import annotations

import pytest

from handlers.registry import COMMANDS
from liuan_bot.domain.roles import Role
from tests.support import Harness

M, S, L = "主要负责人", "新闻发言人", "联络员"
N, D, A = "新闻办", "政务公开办", "副秘书长"
EVERYONE = {M, S, L, N, D, A, "专家", "渠道编辑", "管理员"}
UNIT = {M, S, L}
EXPECTED: dict[str, set[str]] = {
    "help": EVERYONE,
    "whoami": EVERYONE,
    "status": EVERYONE,
    "detail": EVERYONE,
    "apply": UNIT,
    "file": UNIT,
    "withdraw": UNIT,
    "amend": UNIT,
    "policy": UNIT,
    "risk": UNIT,
    "held": UNIT | {N},
    "incident": UNIT | {N},
    "first_release": UNIT | {N},
    "update": UNIT | {N},
    "review": {N},
    "schedule": {N},
    "training": {N},
    "approve": {A},
    "hot_issue": {S, L},
    "roster": {M, L},
    "reminder_log": {N, D},
    "announce": {N},
    "receipts": {N},
    "resend": {N},
    "published": {"渠道编辑", N},
    "release_status": {"渠道编辑", N, D, M, S, L},
    "plan": UNIT,
    "risk_link": UNIT | {N},
    "accountability": {N, D},
    "report": {N, D},
}
# one demo-roster member holding exactly that role
USER_WITH_ROLE = {
    M: "zhengyulan",
    S: "liulei",
    L: "yanglixin",
    N: "caozhiqiang",
    D: "huangting",
    A: "approver",
    "专家": "fengxinmin",
    "渠道编辑": "zhushoucheng",
}


def test_r1_every_command_has_an_explicit_role_decision() -> None:
    assert {spec.key for spec in COMMANDS} == set(EXPECTED)
    for spec in COMMANDS:
        assert {r.value for r in spec.roles} == EXPECTED[spec.key], spec.key
    admin_only = frozenset({Role.ADMIN})
    assert {s.key for s in COMMANDS if s.allowed(admin_only)} == {
        k for k, roles in EXPECTED.items() if "管理员" in roles
    }


@pytest.mark.parametrize("role", sorted(USER_WITH_ROLE))
async def test_r1_the_dispatcher_refuses_exactly_the_commands_a_role_may_not_use(
    harness: Harness, role: str
) -> None:
    user = USER_WITH_ROLE[role]
    for spec in COMMANDS:
        status, reply = await harness.send_text(user, spec.name)
        assert status == 200
        assert reply is not None
        refused = "仅限" in reply
        assert refused == (role not in EXPECTED[spec.key]), (role, spec.name, reply)
