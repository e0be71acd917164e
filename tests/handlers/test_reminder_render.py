"""Issue 11 §5 / issue 9 E1: the renderer table has a wording for every kind the planner
produces (a kind without one would reach people as the neutral fallback line), and no entry
for a kind the planner no longer produces."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from handlers.reminder_render import RENDERERS

DOMAIN = Path(__file__).resolve().parents[2] / "liuan_bot" / "domain" / "reminders"


def planned_kinds() -> list[re.Pattern[str]]:
    """Every `kind=` the domain passes to a Reminder, as a pattern (an f-string's
    placeholders match any lower-case rule code)."""
    found: list[re.Pattern[str]] = []
    for path in sorted(DOMAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.keyword) and node.arg == "kind"):
                continue
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append(re.compile(re.escape(value.value)))
            elif isinstance(value, ast.JoinedStr):
                parts = [
                    re.escape(p.value) if isinstance(p, ast.Constant) else "r[0-9]+"
                    for p in value.values
                ]
                found.append(re.compile("".join(parts)))
            else:
                raise AssertionError(f"{path.name}: a kind the test cannot read")
    return found


def test_e1_every_planned_kind_has_a_renderer_and_every_renderer_a_planned_kind() -> None:
    patterns = planned_kinds()
    assert len(patterns) >= 15  # the scan found the planner's kinds
    for kind in RENDERERS:
        assert any(p.fullmatch(kind) for p in patterns), f"renderer for an unplanned kind {kind}"
    for pattern in patterns:
        assert any(pattern.fullmatch(kind) for kind in RENDERERS), f"no renderer: {pattern}"


def test_e1_the_quota_kinds_have_a_renderer_for_each_of_r8_r9_r10() -> None:
    for rule in ("r8", "r9", "r10"):
        assert f"{rule}_due" in RENDERERS
        assert f"{rule}_missed" in RENDERERS
