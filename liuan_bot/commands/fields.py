"""Fields of a command: `键：值` pairs, record ids and decision words (issue 3 grammar).

After the command word come, in any order and with whatever punctuation a phone keyboard
gives: an optional record id (`SQ-2026-0012`, `sq12`), an optional decision word
(通过/驳回, 同意/不同意), and fields `键：值`, one per line or on one line separated by `;`,
`,` or spaces. A field ends where the next known key of the command begins. Full-width forms
are already folded by `grammar.normalise` (NFKC), so only ASCII separators remain here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from liuan_bot.commands.grammar import edit_distance, normalise
from liuan_bot.commands.timeparse import Prefer, TimeParseError, parse_time

FieldKind = Literal["text", "time", "names", "bool", "choice", "link", "record"]

RECORD_PREFIXES = ("SQ", "BA", "TF", "ZC", "FX", "YQ", "GG")
_RECORD_RE = re.compile(
    r"^(?P<prefix>" + "|".join(RECORD_PREFIXES) + r")\s*-?\s*"
    r"(?:(?P<year>20\d{2})[\s-]+(?P<num>\d{1,4})(?!\d)|(?P<compact>20\d{2})(?P<num2>\d{4})(?!\d)"
    r"|(?P<short>\d{1,4})(?!\d|\s*-\s*\d))",
    re.IGNORECASE,
)
_TRUE = {"是", "要", "需要", "有", "yes", "y", "1", "true", "直播", "开"}
_FALSE = {"否", "不", "不要", "不需要", "无", "没有", "no", "n", "0", "false", "不直播"}
_NAME_SPLIT = re.compile(r"[、,;/，；\s]+")
_TWO_NAMES = re.compile(r"(\S{2,4})[和与及](\S{2,4})")
_LINK_RE = re.compile(r"https?://\S+", re.IGNORECASE)
_STRONG_KEY = re.compile(r"(?:^|(?<=[\n;]))\s*([\u4e00-\u9fff]{1,6})\s*:")
_WEAK_KEY = re.compile(r"(?<=[ ,])([\u4e00-\u9fff]{1,6})\s*:")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a command: canonical Chinese name, aliases, kind, whether required."""

    name: str
    kind: FieldKind = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    choice_aliases: Mapping[str, str] = field(default_factory=dict)
    prefer: Prefer = "future"
    example: str = ""
    prose: bool = False  # sentences (内容, 要点…): keeps its closing punctuation

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class CommandGrammar:
    """What may follow one command word."""

    fields: tuple[FieldSpec, ...] = ()
    # "optional": with an id the command updates that record and no field is required
    record: Literal["none", "optional", "required"] = "none"
    record_prefixes: tuple[str, ...] = RECORD_PREFIXES
    decisions: tuple[str, ...] = ()
    decision_aliases: Mapping[str, str] = field(default_factory=dict)
    # fields whose presence satisfies a requirement of another: 姓名 or 企业微信账号
    one_of: tuple[tuple[str, ...], ...] = ()

    def spec(self, name: str) -> FieldSpec:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)


FieldValue = str | bool | datetime | list[str]


@dataclass
class ParsedFields:
    """The outcome of parsing what follows a command word."""

    record_id: str | None = None
    decision: str | None = None
    values: dict[str, FieldValue] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)  # times given only as a part of day


def parse_record_id(text: str, year: int) -> tuple[str, int] | None:
    """A record id at the start of `text` and the length it took, or None.

    `SQ-2026-0012`, `sq-2026-12`, `SQ20260012`, `sq12`, `SQ-12` (this year) are accepted.
    """
    match = _RECORD_RE.match(text)
    if match is None:
        return None
    prefix = match["prefix"].upper()
    if match["short"] is not None:
        the_year, number = year, int(match["short"])
    elif match["compact"] is not None:
        the_year, number = int(match["compact"]), int(match["num2"])
    else:
        the_year, number = int(match["year"]), int(match["num"])
    if number == 0:
        return None
    return f"{prefix}-{the_year}-{number:04d}", match.end()


def _key_pattern(grammar: CommandGrammar) -> re.Pattern[str] | None:
    keys = sorted({k for spec in grammar.fields for k in spec.keys}, key=len, reverse=True)
    if not keys:
        return None
    alternation = "|".join(re.escape(k) for k in keys)
    return re.compile(r"(?:^|(?<=[\s;,.。]))(" + alternation + r")\s*:")


def _lookup(grammar: CommandGrammar) -> dict[str, FieldSpec]:
    return {key: spec for spec in grammar.fields for key in spec.keys}


_ENDS = " \n;,.。!?:"
_VALUE_ENDS = " \n;,"


def _trim_value(raw: str, prose: bool) -> str:
    """Separators around a value go; a stray closing 。 goes from a phrase (主题：冬季森林防火。),
    never from prose or from text of several sentences."""
    value = raw.strip(_VALUE_ENDS)
    body = value.rstrip("。.!?")
    return value if prose or re.search(r"[。!?]", body) else body


def _convert(spec: FieldSpec, raw: str, now: datetime, out: ParsedFields) -> None:
    if spec.kind == "time":
        try:
            parsed = parse_time(raw, now, prefer=spec.prefer)
        except TimeParseError as exc:
            out.errors.append(f"{spec.name}：{exc.message}")
            return
        out.values[spec.name] = parsed.at
        if not parsed.exact:
            out.inexact.append(spec.name)
    elif spec.kind == "names":
        names: list[str] = []
        for part in (n.strip() for n in _NAME_SPLIT.split(raw)):
            pair = _TWO_NAMES.fullmatch(part)  # 王建国和李明, but not 王和平
            names += list(pair.groups()) if pair else [part] if part else []
        out.values[spec.name] = names
    elif spec.kind == "bool":
        word = raw.lower()
        if word in _TRUE:
            out.values[spec.name] = True
        elif word in _FALSE:
            out.values[spec.name] = False
        else:
            out.errors.append(f"{spec.name}：请填写“是”或“否”，收到的是“{raw}”")
    elif spec.kind == "choice":
        value = spec.choice_aliases.get(raw, raw)
        if value not in spec.choices:
            options = "、".join(spec.choices)
            out.errors.append(f"{spec.name}：只能是{options}之一，收到的是“{raw}”")
        else:
            out.values[spec.name] = value
    elif spec.kind == "link":
        if raw in ("待定", "暂无", "无"):
            out.values[spec.name] = "待定"
        elif _LINK_RE.fullmatch(raw):
            out.values[spec.name] = raw
        else:
            out.errors.append(f"{spec.name}：请填写以 http:// 或 https:// 开头的链接（或“待定”）")
    elif spec.kind == "record":
        found = parse_record_id(raw, now.year)
        if found is None or found[1] != len(raw):
            out.errors.append(f"{spec.name}：“{raw}”不是有效的编号，例如 TF-{now.year}-0003")
        else:
            out.values[spec.name] = found[0]
    else:
        out.values[spec.name] = chinese_punctuation(raw)


_CJK = r"[\u3400-\u9fff\u3001-\u303f\uff01-\uff5e“”‘’《》]"
_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", "(": "（", ")": "）"}
_ASCII_PUNCT_IN_CHINESE = re.compile(rf"(?<={_CJK})\s*([,;:!?()])|([,;:!?()])\s*(?={_CJK})")


def chinese_punctuation(text: str) -> str:
    """Undo NFKC's folding of Chinese punctuation inside Chinese text (一，二 not 一,二);
    ASCII stays ASCII between ASCII characters (URLs, 1,000)."""
    return _ASCII_PUNCT_IN_CHINESE.sub(lambda m: _PUNCT[m.group(1) or m.group(2)], text)


def _unknown_keys(head: str, body: str, grammar: CommandGrammar, out: ParsedFields) -> None:
    """Point out `键：` that the command does not know, with the closest known key.

    At the start of the text, a line or after `;` any `词：` is a field name. Inside a value
    (after a space or comma) only one that looks like a typo of a known key is: `内容：据悉，
    市长表示：…` is prose, `主题：供暖 时问：明天` is a misspelt 时间.
    """
    known = _lookup(grammar)
    found = [(m.group(1), True) for m in _STRONG_KEY.finditer(head)]
    found += [(m.group(1), True) for m in _STRONG_KEY.finditer(body) if m.start() > 0]
    found += [(m.group(1), False) for text in (head, body) for m in _WEAK_KEY.finditer(text)]
    seen: set[str] = set()
    for key, certain in found:
        if key in known or key in seen:
            continue
        best = min(known, key=lambda k: edit_distance(key, k), default=None)
        close = best is not None and edit_distance(key, best) <= max(1, len(best) // 2)
        if not (certain or close):
            continue
        seen.add(key)
        hint = f"，您是不是想写“{known[best].name}”？" if close and best else ""
        out.errors.append(f"不认识的字段“{key}”{hint}")


def parse_fields(text: str, grammar: CommandGrammar, now: datetime) -> ParsedFields:
    """Parse what follows a command word; every problem is collected, none raised."""
    out = ParsedFields()
    rest = normalise(text).lstrip(_ENDS).rstrip(_VALUE_ENDS)
    if grammar.record != "none":
        found = parse_record_id(rest, now.year)
        if found is not None:
            record_id, length = found
            if record_id[:2] in grammar.record_prefixes:
                out.record_id = record_id
                rest = rest[length:].lstrip(_ENDS)
            else:
                kinds = "、".join(grammar.record_prefixes)
                out.errors.append(f"编号 {record_id} 不适用于这个命令（应为 {kinds} 开头）")
                rest = rest[length:].lstrip(_ENDS)
        elif grammar.record == "required":
            prefixes = "、".join(f"{p}-{now.year}-0001" for p in grammar.record_prefixes[:2])
            out.errors.append(f"请在命令后写上编号，例如 {prefixes}")
    if grammar.decisions:
        words = sorted((*grammar.decisions, *grammar.decision_aliases), key=len, reverse=True)
        for word in words:
            if rest.startswith(word):
                out.decision = grammar.decision_aliases.get(word, word)
                rest = rest[len(word) :].lstrip(_ENDS)
                break
    pattern = _key_pattern(grammar)
    lookup = _lookup(grammar)
    matches = list(pattern.finditer(rest)) if pattern else []
    head = rest[: matches[0].start()] if matches else rest
    if head.strip(_ENDS) and grammar.fields:
        _unknown_keys(head, "", grammar, out)
        if not any("不认识的字段" in e for e in out.errors):
            out.errors.append(f"看不懂“{head.strip(_ENDS)[:20]}”：请用“字段：内容”的格式填写")
    for index, match in enumerate(matches):
        spec = lookup[match.group(1)]
        end = matches[index + 1].start() if index + 1 < len(matches) else len(rest)
        raw = _trim_value(rest[match.end() : end], spec.prose)
        _unknown_keys("", raw, grammar, out)
        if spec.name in out.raw:
            out.errors.append(f"“{spec.name}”填写了两次，请只保留一个")
            continue
        out.raw[spec.name] = raw
        if raw:
            _convert(spec, raw, now, out)
    if grammar.record == "optional" and out.record_id is not None:
        return out  # a record id here means an update: every field is optional
    given = {name for name, raw in out.raw.items() if raw}
    satisfied = {name for group in grammar.one_of if set(group) & given for name in group}
    for spec in grammar.fields:
        if spec.required and spec.name not in given and spec.name not in satisfied:
            out.missing.append(spec.name)
    return out


def example_message(word: str, grammar: CommandGrammar, record_id: str | None = None) -> str:
    """A filled-in example of the command, one field per line (for missing-field replies)."""
    head = word + (f" {record_id}" if record_id else "")
    if grammar.decisions:
        head += f" {grammar.decisions[0]}"
    lines = [head]
    lines += [f"{spec.name}：{spec.example}" for spec in grammar.fields if spec.example]
    return "\n".join(lines)
