"""What the per-file configuration parsers share (issue 11 §5): a collector of problems, so
that `liuan_bot.config.load_config` can report every problem of every file at once.

Each problem names its file and key and says what is wrong in Chinese: the news office's
administrator reads them when `bot.py serve` refuses to start.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Problem:
    file: str  # the file's name, e.g. "channels.toml"
    key: str  # dotted key, e.g. "channels.weibo.limits.max_chars"; "" for the whole file
    message: str  # Chinese

    def __str__(self) -> str:
        return (
            f"{self.file} {self.key}：{self.message}"
            if self.key
            else f"{self.file}：{self.message}"
        )


@dataclass
class Problems:
    """The problems found in one file."""

    file: str
    items: list[Problem] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        self.items.append(Problem(self.file, key, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def text(self) -> str:
        return "\n".join(str(p) for p in self.items)


def read_toml(path: Path, problems: Problems, *, required: bool = False) -> dict[str, Any] | None:
    """The parsed file; None (and a problem, if `required`) when it is absent or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            problems.add("", f"找不到该文件（{path}）")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.add("", f"无法读取该文件（{getattr(exc, 'strerror', None) or exc}）")
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = _AT.search(str(exc))
        where = f"第 {at.group(1)} 行第 {at.group(2)} 列附近" if at else ""
        problems.add("", f"不是有效的 TOML 格式，{where}有误")
        return None


def check_keys(
    table: Mapping[str, Any], known: Iterable[str], prefix: str, problems: Problems
) -> None:
    """One problem per key of `table` not in `known` (issue 11 §5: unknown keys rejected)."""
    allowed = list(known)
    for key in table:
        if key not in allowed:
            problems.add(
                f"{prefix}.{key}" if prefix else str(key),
                f"未知的配置项（可用：{'、'.join(allowed)}）",
            )


def table_of(raw: Mapping[str, Any], key: str, prefix: str, problems: Problems) -> dict[str, Any]:
    """`raw[key]` when it is a table (else a problem and {}); {} when absent."""
    value = raw.get(key, {})
    if isinstance(value, dict):
        return value
    problems.add(f"{prefix}.{key}" if prefix else key, "应为一个表（[…] 小节）")
    return {}
