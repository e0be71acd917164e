"""Fields of a command: `键：值` pairs, record ids and decision words (issue 3 grammar).

After the command word come, in any order and with whatever punctuation a phone keyboard
gives: an optional record id (`SQ-2026-0012`, `sq12`), an optional decision word
(通过/驳回, 同意/不同意), and fields `键：值`, one per line or on one line separated by `;`,
`,` or spaces. A field ends where the next known key of the command begins. Full-width forms
are already folded by `grammar.normalise` (NFKC), so only ASCII separators remain here.

As people type on phones and by voice (issue 9 E6), the grammar also takes:
- keys without a colon (`主题 冬季供暖 时间 明天上午10点`, `主题，冬季供暖`) or with 是/为
  (`主题是冬季供暖`): such a key starts a field only when text follows it, it does not follow
  another key directly and its field is not given yet;
- a space inside a key (`地 点：`) and a near-miss key before a colon (`发布任：` → 发布人: one
  character off a single field's key);
- courtesies at the end (`谢谢`, `辛苦了`, `麻烦您了`), never a value; a trailing `确认`
  confirms an implausible time the bot asked about;
- the decision word at the start or at the end of a sentence (`因为材料不全，不同意`), and
  the rest of the sentence as the grammar's `free_field` (the reason);
- ids with dashes of any width (`SQ—2026—0012`), links without a scheme (`www.…`).
What the handler would refuse is declared here, so `bot.py parse` says it too (E5): a
required decision (`decision_required`), fields a decision requires (`required_if`: 驳回 →
理由), times that must give the hour (`exact_times`). A refusal gives back the sender's own
message, corrected, with the field to fix marked (`retry_message`, E2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from liuan_bot.commands.grammar import edit_distance, normalise
from liuan_bot.commands.timeparse import (
    Prefer,
    TimeParseError,
    format_time,
    implausible,
    parse_time,
)

FieldKind = Literal["text", "time", "names", "bool", "choice", "link", "record"]

RECORD_PREFIXES = ("SQ", "BA", "TF", "ZC", "FX", "YQ", "GG")
# Dashes of any width (- ‐ ‑ ‒ – — ― − ﹘ ﹣ －): NFKC folds only some of them.
DASH = r"\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_RECORD_RE = re.compile(
    r"^(?P<prefix>" + "|".join(RECORD_PREFIXES) + rf")\s*[{DASH}]?\s*"
    rf"(?:(?P<year>20\d{{2}})[\s{DASH}]+(?P<num>\d{{1,4}})(?!\d)"
    r"|(?P<compact>20\d{2})(?P<num2>\d{4})(?!\d)"
    rf"|(?P<short>\d{{1,4}})(?!\d|\s*[{DASH}]\s*\d))",
    re.IGNORECASE,
)
_TRUE = {"是", "要", "需要", "有", "yes", "y", "1", "true", "直播", "开"}
_FALSE = {"否", "不", "不要", "不需要", "无", "没有", "no", "n", "0", "false", "不直播"}
_NAME_SPLIT = re.compile(r"[、,;/，；\s]+")
_TWO_NAMES = re.compile(r"(\S{2,4})[和与及](\S{2,4})")
_LINK_RE = re.compile(r"https?://\S+", re.IGNORECASE)
# A link typed without its scheme: www.luan.gov.cn/…, xwzx.luan.gov.cn/…
_BARE_LINK_RE = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:cn|com|net|org|gov|edu|info|top|xyz)"
    r"(?::\d+)?(?:[/?#]\S*)?",
    re.IGNORECASE,
)
_STRONG_KEY = re.compile(r"(?:^|(?<=[\n;]))\s*([\u4e00-\u9fff]{1,6})\s*:")
_WEAK_KEY = re.compile(r"(?<=[ ,])([\u4e00-\u9fff]{1,6})\s*:")
# A `词：` where a key may stand, to catch near misses (发布任：, 地 点：).
_COLON_WORD = re.compile(
    r"(?:^|(?<=[\s;,.。!?]))([\u4e00-\u9fff](?:\s?[\u4e00-\u9fff]){1,5})(?=\s*:)"
)
# Courtesies at the end of a message (谢谢, 辛苦了, 麻烦您了): never a value.
_POLITE_TAIL = re.compile(
    r"(?:[\s,.。!~;]*(?:谢谢(?:您|你|啦|了|大家)?|多谢(?:了)?|感谢(?:您|你)?|辛苦(?:您|你)?(?:了|啦)?"
    r"|麻烦(?:您|你)?(?:了|啦)|拜托(?:了|啦)?|有劳(?:了)?|请(?:审核|审批|查收|处理|批示)(?:一下)?)"
    r"[\s,.。!~]*)+$"
)
# A trailing 确认 confirms a value the bot asked about (an implausible time).
_CONFIRM_TAIL = re.compile(r"(?:^|[\s,.。!;]+)(?:确认无误|确认)[\s,.。!]*$")  # not 已确认


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
    # decisions that make the field required: 理由 for 驳回 (E5)
    required_if: tuple[str, ...] = ()
    # a vocabulary from configuration, bound by the registry: "channel" (广电 → 六安市广播电视台)
    lexicon: str | None = None

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
    # a decision word must be given (审核 SQ-… without 通过/驳回 is refused by the grammar)
    decision_required: bool = False
    # text that is not `键：值` goes to this field: 审核 SQ12 因为材料不全，不同意 → 理由
    free_field: str | None = None
    # how the decision is named in a refusal (审核结论, 审批结论)
    decision_label: str = "结论"
    # times must give the hour (备案, 排期): `明天上午` is refused by the grammar
    exact_times: bool = False
    # a command word that is itself the decision: `批准 SQ-…` (an alias of 审批) is 同意
    word_decisions: Mapping[str, str] = field(default_factory=dict)

    # Derived once per grammar (issue 11 §1: parse_fields rebuilt the key pattern per message)
    @cached_property
    def key_pattern(self) -> re.Pattern[str] | None:
        """A key where one may start, then `:`, or 是/为, or (voice input) only a space or
        comma (`_key_matches`)."""
        return _build_key_pattern(self)

    @cached_property
    def key_lookup(self) -> Mapping[str, FieldSpec]:
        """Each key → its field (read-only: shared by every parse)."""
        return MappingProxyType({key: spec for spec in self.fields for key in spec.keys})

    def spec(self, name: str) -> FieldSpec:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    def bind(self, lexicons: Mapping[str, Mapping[str, str]]) -> CommandGrammar:
        """This grammar with every `lexicon` field resolving the configured aliases."""
        fields = tuple(
            replace(spec, choice_aliases={**lexicons[spec.lexicon], **spec.choice_aliases})
            if spec.lexicon is not None and spec.lexicon in lexicons
            else spec
            for spec in self.fields
        )
        return replace(self, fields=fields)


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
    invalid: list[str] = field(default_factory=list)  # fields whose text must be corrected
    ends: dict[str, datetime] = field(default_factory=dict)  # 14:30-16:00 → 时间 ends 16:00
    needed: list[str] = field(default_factory=list)  # required by the decision (驳回 → 理由)
    confirmed: bool = False  # a trailing 确认: implausible values are meant
    decision_missing: bool = False


def parse_record_id(text: str, year: int) -> tuple[str, int] | None:
    """A record id at the start of `text` and the length it took, or None.

    `SQ-2026-0012`, `sq-2026-12`, `SQ20260012`, `sq12`, `SQ-12` (this year) are accepted, with
    dashes of any width (`SQ－2026－0012`, `SQ—2026—12`).
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


def match_name(token: str, names: Iterable[str]) -> str | None:
    """The one name `token` stands for: itself, else the only name containing it (财政局 →
    市财政局), as 公告 resolves units; None when there is none or several."""
    names = list(names)
    if token in names:
        return token
    near = [name for name in names if token and token in name]
    return near[0] if len(near) == 1 else None


def lexicon(entries: Iterable[tuple[str, Iterable[str]]]) -> dict[str, str]:
    """A vocabulary for `FieldSpec.lexicon`: every alias (and the name itself) → the name.
    An alias claimed by two names is dropped: it must be written out."""
    found: dict[str, set[str]] = {}
    for name, aliases in entries:
        for alias in (name, *aliases):
            found.setdefault(normalise(alias), set()).add(name)
    return {alias: next(iter(names)) for alias, names in found.items() if len(names) == 1}


def _spaced(key: str) -> str:
    """A key as a pattern that tolerates a space between its characters (地 点)."""
    return r"\s?".join(re.escape(char) for char in key)


def _build_key_pattern(grammar: CommandGrammar) -> re.Pattern[str] | None:
    keys = sorted({k for spec in grammar.fields for k in spec.keys}, key=len, reverse=True)
    if not keys:
        return None
    alternation = "|".join(_spaced(k) for k in keys)
    return re.compile(
        r"(?:^|(?<=[\s;,.。!?]))(?P<key>" + alternation + r")"
        r"(?P<sep>\s*:|(?=[\s,])|(?:是|为)(?!否|不|\s|,|$))"
    )


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
            out.invalid.append(spec.name)
            return
        doubt = None if out.confirmed else implausible(parsed, now, prefer=spec.prefer)
        if doubt is not None:
            out.errors.append(
                f"{spec.name}：{doubt}请核对；如确实无误，请在消息末尾加上“确认”后重新发送。"
            )
            out.invalid.append(spec.name)
            return
        out.values[spec.name] = parsed.at
        if parsed.end is not None:
            out.ends[spec.name] = parsed.end
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
            out.invalid.append(spec.name)
    elif spec.kind == "choice":
        value = spec.choice_aliases.get(raw, raw)
        if value not in spec.choices:
            options = "、".join(spec.choices)
            out.errors.append(f"{spec.name}：只能是{options}之一，收到的是“{raw}”")
            out.invalid.append(spec.name)
        else:
            out.values[spec.name] = value
    elif spec.kind == "link":
        if raw in ("待定", "暂无", "无"):
            out.values[spec.name] = "待定"
        elif _LINK_RE.fullmatch(raw):
            out.values[spec.name] = raw
        elif _BARE_LINK_RE.fullmatch(raw):
            out.values[spec.name] = "http://" + raw
        else:
            out.errors.append(
                f"{spec.name}：请填写网页链接，如 https://www.luan.gov.cn/…（或“待定”）"
            )
            out.invalid.append(spec.name)
    elif spec.kind == "record":
        found = parse_record_id(raw, now.year)
        if found is None or found[1] != len(raw):
            out.errors.append(f"{spec.name}：“{raw}”不是有效的编号，例如 TF-{now.year}-0003")
            out.invalid.append(spec.name)
        else:
            out.values[spec.name] = found[0]
    else:
        text = chinese_punctuation(raw)
        lexicon = {k.lower(): v for k, v in spec.choice_aliases.items()}
        out.values[spec.name] = lexicon.get(text.lower(), text) if lexicon else text


_CJK = r"[\u3400-\u9fff\u3001-\u303f\uff01-\uff5e“”‘’《》]"
_PUNCT = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", "(": "（", ")": "）"}
_ASCII_PUNCT_IN_CHINESE = re.compile(rf"(?<={_CJK})\s*([,;:!?()])|([,;:!?()])\s*(?={_CJK})")


def chinese_punctuation(text: str) -> str:
    """Undo NFKC's folding of Chinese punctuation inside Chinese text (一，二 not 一,二);
    ASCII stays ASCII between ASCII characters (URLs, 1,000)."""
    return _ASCII_PUNCT_IN_CHINESE.sub(lambda m: _PUNCT[m.group(1) or m.group(2)], text)


def _near_key(word: str, grammar: CommandGrammar) -> FieldSpec | None:
    """The one field a `词：` nearly names (发布任 → 发布人, 地 点 → 地点), or None."""
    word = word.replace(" ", "")
    known = grammar.key_lookup
    if word in known:
        return known[word]
    close = {
        spec.name: spec
        for key, spec in known.items()
        if len(key) >= 2 and len(key) == len(word) and edit_distance(word, key) == 1
    }
    return next(iter(close.values())) if len(close) == 1 else None


def _fix_near_keys(rest: str, grammar: CommandGrammar) -> str:
    """Rewrite near-miss keys typed before a colon to the field's name."""

    def fix(match: re.Match[str]) -> str:
        spec = _near_key(match.group(1), grammar)
        return spec.name if spec is not None else match.group(1)

    return _COLON_WORD.sub(fix, rest)


def _unknown_keys(head: str, body: str, grammar: CommandGrammar, out: ParsedFields) -> None:
    """Point out `键：` that the command does not know, with the closest known key.

    At the start of the text, a line or after `;` any `词：` is a field name. Inside a value
    (after a space or comma) only one that looks like a typo of a known key is: `内容：据悉，
    市长表示：…` is prose, `主题：供暖 时问问：明天` is a misspelt 时间.
    """
    if ":" not in head and ":" not in body:  # every key pattern ends with a colon
        return
    known = grammar.key_lookup
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


def _strip_tails(rest: str, grammar: CommandGrammar, out: ParsedFields) -> str:
    """Courtesies (谢谢, 辛苦了) and a confirming 确认 at the end are not values."""
    rest = _POLITE_TAIL.sub("", rest)
    confirmable = any(spec.kind == "time" for spec in grammar.fields)
    if confirmable and "确认" not in (*grammar.decisions, *grammar.decision_aliases):
        stripped = _CONFIRM_TAIL.sub("", rest)
        if stripped != rest:
            out.confirmed = True
            rest = _POLITE_TAIL.sub("", stripped)
    return rest.rstrip(_VALUE_ENDS)


def _take_decision(rest: str, grammar: CommandGrammar, out: ParsedFields) -> str:
    """The decision word at the start (审核 SQ12 驳回 …) or at the end of a sentence
    (审核 SQ12 因为材料不全，不同意)."""
    words = sorted((*grammar.decisions, *grammar.decision_aliases), key=len, reverse=True)
    for word in words:
        if rest.startswith(word):
            out.decision = grammar.decision_aliases.get(word, word)
            return rest[len(word) :].lstrip(_ENDS)
    alternation = "|".join(re.escape(word) for word in words)
    at_end = re.search(rf"(?:^|[\s,.。;!])(?P<word>{alternation})[\s,.。!]*$", rest)
    if at_end is not None:
        word = at_end.group("word")
        out.decision = grammar.decision_aliases.get(word, word)
        return rest[: at_end.start("word")].rstrip(_ENDS)
    return rest


_KeyAt = tuple[re.Match[str] | None, FieldSpec]  # None: the free field, from the start


def _key_matches(rest: str, grammar: CommandGrammar) -> list[_KeyAt]:
    """The keys that start fields, in order. A key with a colon always does; a key without
    one (voice input: `主题 冬季供暖 时间 明天上午10点`) only when something follows it, it
    does not follow another key directly and its field is not given yet."""
    pattern = grammar.key_pattern
    if pattern is None:
        return []
    lookup = grammar.key_lookup
    taken: list[tuple[re.Match[str], FieldSpec]] = []
    given: set[str] = set()
    for match in pattern.finditer(rest):
        spec = lookup[match.group("key").replace(" ", "")]
        if ":" not in match.group("sep"):
            after = rest[match.end() :].strip(_ENDS)
            before = rest[taken[-1][0].end() : match.start()] if taken else rest[: match.start()]
            if not after or (taken and not before.strip(_ENDS)) or spec.name in given:
                continue
        taken.append((match, spec))
        given.add(spec.name)
    return list(taken)


def parse_fields(
    text: str, grammar: CommandGrammar, now: datetime, *, word: str = ""
) -> ParsedFields:
    """Parse what follows a command word; every problem is collected, none raised.

    `word` is the command word as typed: one of `grammar.word_decisions` decides when the
    text gives no decision of its own."""
    out = ParsedFields()
    rest = normalise(text).lstrip(_ENDS).rstrip(_VALUE_ENDS)
    rest = _strip_tails(rest, grammar, out)
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
        rest = _take_decision(rest, grammar, out)
    rest = _fix_near_keys(rest, grammar)
    matches = _key_matches(rest, grammar)
    first = matches[0][0] if matches else None
    head = rest[: first.start()] if first is not None else rest
    free = grammar.spec(grammar.free_field) if grammar.free_field else None
    record_ok = grammar.record != "required" or out.record_id is not None
    if head.strip(_ENDS) and free is not None and record_ok and not _STRONG_KEY.search(head):
        matches.insert(0, (None, free))
    elif head.strip(_ENDS) and grammar.fields:
        _unknown_keys(head, "", grammar, out)
        if not any("不认识的字段" in e for e in out.errors):
            out.errors.append(f"看不懂“{head.strip(_ENDS)[:20]}”：请用“字段：内容”的格式填写")
    for index, (match, spec) in enumerate(matches):
        begin = 0 if match is None else match.end()
        nxt = matches[index + 1][0] if index + 1 < len(matches) else None
        end = nxt.start() if nxt is not None else len(rest)
        raw = _trim_value(rest[begin:end], spec.prose)
        if match is None:
            raw = raw.lstrip(_ENDS)
        _unknown_keys("", raw, grammar, out)
        if spec.name in out.raw:
            out.errors.append(f"“{spec.name}”填写了两次，请只保留一个")
            continue
        out.raw[spec.name] = raw
        if raw:
            _convert(spec, raw, now, out)
    if grammar.exact_times:
        for name in out.inexact:
            out.errors.append(f"{name}：请写明几点几分，例如“12月3日上午10点”")
            out.invalid.append(name)
    if out.decision is None and word in grammar.word_decisions:
        out.decision = grammar.word_decisions[word]
    if grammar.decision_required and out.decision is None:
        out.decision_missing = True
        options = "或".join(f"“{word}”" for word in grammar.decisions)
        out.errors.append(f"请写明{grammar.decision_label}：{options}")
    if grammar.record == "optional" and out.record_id is not None:
        return out  # a record id here means an update: every field is optional
    given = {name for name, raw in out.raw.items() if raw}
    satisfied = {name for group in grammar.one_of if set(group) & given for name in group}
    for spec in grammar.fields:
        if spec.name in given or spec.name in satisfied:
            continue
        if spec.required:
            out.missing.append(spec.name)
        elif out.decision is not None and out.decision in spec.required_if:
            out.needed.append(spec.name)
            out.errors.append(f"{out.decision}需要写明{spec.name}")
    return out


def example_message(word: str, grammar: CommandGrammar, record_id: str | None = None) -> str:
    """A filled-in example of the command, one field per line (for help)."""
    head = word + (f" {record_id}" if record_id else "")
    if grammar.decisions:
        head += f" {grammar.decisions[0]}"
    lines = [head]
    lines += [f"{spec.name}：{spec.example}" for spec in grammar.fields if spec.example]
    return "\n".join(lines)


def _shown(spec: FieldSpec, parsed: ParsedFields, now: datetime) -> str:
    """A field's value as it goes back to the sender: their text, in the canonical form."""
    value = parsed.values[spec.name]
    if isinstance(value, datetime):
        shown = format_time(value, now)
        if spec.name in parsed.ends:
            shown += f"-{parsed.ends[spec.name]:%H:%M}"
        return shown
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(value)
    return value


def retry_message(word: str, grammar: CommandGrammar, parsed: ParsedFields, now: datetime) -> str:
    """The sender's own message, corrected, ready to copy (E2): their values in canonical form,
    `（请改正：…）` where a value is wrong and `（请填写，例如 …）` where one is missing — not a
    stock example about another matter."""
    head = word + (f" {parsed.record_id}" if parsed.record_id else "")
    if parsed.decision is not None:
        head += f" {parsed.decision}"
    elif grammar.decisions:
        head += f" {'/'.join(grammar.decisions)}"
    lines = [head]
    for spec in grammar.fields:
        raw = parsed.raw.get(spec.name, "")
        if spec.name in parsed.invalid:
            lines.append(f"{spec.name}：（请改正：{raw}）")
        elif spec.name in parsed.values:
            lines.append(f"{spec.name}：{_shown(spec, parsed, now)}")
        elif spec.name in parsed.missing or spec.name in parsed.needed:
            hint = f"，例如 {spec.example}" if spec.example else ""
            lines.append(f"{spec.name}：（请填写{hint}）")
    return "\n".join(lines)
