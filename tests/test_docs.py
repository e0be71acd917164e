"""The documents the bot cites are readable from a clone (issue 9 F2)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rules_and_notice_are_in_the_repository() -> None:
    rules = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for n in range(1, 25):
        assert f"| R{n} |" in rules, f"R{n} missing from docs/rules.md"
    notice = (ROOT / "docs" / "notice-liuxuanfa-2019-26.txt").read_text(encoding="utf-8")
    assert "六宣发" in notice or "新闻发布" in notice


def test_readme_points_only_inside_the_repository() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../" not in text, "README points outside the repository"
    assert "docs/rules.md" in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" in target:
            continue
        assert (ROOT / target).exists(), f"README links to a missing file: {target}"
