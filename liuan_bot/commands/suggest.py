"""Suggest a command for free text that is not one (issue 3).

`我们下周三想开个发布会讲讲秋粮收购` is no command, but it plainly asks for a press conference:
the bot answers with the command it most likely means, pre-filled with what could be read
(time, topic), ready to copy, complete and send.

- Words come from jieba with a domain dictionary (`config/jieba-dict.txt`) and stop words
  (`config/stopwords.txt`). jieba is imported and initialised once, by `Suggester.load()`
  (at start-up or on the first suggestion, about 1 s), never when this module is imported:
  parsing a real command must not pay for it. A private `jieba.Tokenizer` is used, never the
  global `jieba.dt`, so nobody else's `add_word` changes what we see.
- Intents are scored from keywords among the words and a few phrase patterns. Explicit cues
  decide first: a record id → 详情, a progress question → 我的, a conference noun →
  申请发布会 (备案 when the unit holds it itself).
- Times come from `timeparse.find_time`, never from jieba: future for conferences and
  policies, past for incidents. A time that is found but cannot be resolved is left out and
  its question goes into `reason`.
- The topic is the best run of meaningful words once the time, intent verbs, command words
  and stop words are gone; incidents and hot issues keep the clauses that describe them.
- Names are never guessed for 发布人; a spokesperson's 姓名 only from an explicit
  `换成X` / `发言人是X`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from liuan_bot.commands.grammar import normalise
from liuan_bot.commands.registry import CommandSpec, Registry
from liuan_bot.commands.suggest_cues import (  # the suggester's internals
    _CLAUSE_BREAK,
    _CONFERENCE_NOUNS,
    _COUNT,
    _COUNT_REASON,
    _DONE,
    _FUNCTION,
    _GENERIC,
    _INTRO,
    _JOIN,
    _LABELLED,
    _LEADING,
    _LEVEL,
    _LOCATIVE,
    _META,
    _ORG_OR_PLACE,
    _PATTERNS,
    _PRIORITY,
    _QUERY,
    _QUOTED,
    _RISK_KIND,
    _RISK_LEVEL,
    _SELF_HELD,
    _TAIL,
    _TIMEISH,
    _TRAILING,
    _URL,
    _VAGUE,
    _VAGUE_TIME,
    _WANT,
    _WORDISH,
    GREETING_REPLY,
    THANKS_REPLY,
    _scores,
    _weight,
    small_talk,
)
from liuan_bot.commands.suggest_extract import (  # the suggester's internals
    _blank,
    _clean,
    _conference_extras,
    _find_record,
    _hot_issue_extras,
    _risk_extras,
    _roster_extras,
    _time_label,
    _time_span,
    _unresolved_time,
)
from liuan_bot.commands.timeparse import Prefer, TimeParseError, find_time
from liuan_bot.jieba_loader import domain_tokenizer

__all__ = [
    "DEFAULT_DICT_PATH",
    "DEFAULT_STOPWORDS_PATH",
    "GREETING_REPLY",
    "PLACEHOLDER",
    "THANKS_REPLY",
    "Suggester",
    "Suggestion",
    "command_table",
    "small_talk",
]

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DICT_PATH = _ROOT / "config" / "jieba-dict.txt"
DEFAULT_STOPWORDS_PATH = _ROOT / "config" / "stopwords.txt"

PLACEHOLDER = "（请填写）"
_MAX_CHARS = 300  # longer messages are read up to here
_MIN_SCORE = 2.0  # below this, nothing is suggested
_STRONG = 3.0  # a record id with a weaker intent than this means 详情


@dataclass(frozen=True)
class Suggestion:
    """The command a free-text message most likely meant, ready to copy."""

    command: str  # Chinese command word, e.g. "申请发布会"
    key: str  # canonical key, e.g. "apply"
    fields: dict[str, str]  # canonical field → value text, only what was extracted
    message: str  # command word + one "字段：值" per line, placeholders for the rest
    reason: str  # short Chinese explanation

    @property
    def reply(self) -> str:
        """The answer to the free text: why, and the command ready to copy."""
        reason = self.reason.rstrip("。")
        if "\n" not in self.message:
            return f"{reason}。可以直接发送：\n\n{self.message}"
        return f"{reason}。可以复制下面的内容，补全后发送：\n\n{self.message}"


@dataclass(frozen=True)
class _Command:
    """A command as the suggester writes it: word, fields and hints come from the command's
    grammar in the registry (issue 11 §5: one source of truth); the rest is how free text
    maps onto it."""

    word: str
    key: str
    fields: tuple[tuple[str, bool], ...]  # (canonical name, required), in grammar order
    reason: str
    time_field: str | None = None
    prefer: Prefer = "future"
    subject: str | None = None  # the field that receives the topic or the event text
    by_clause: bool = False  # subject from the clauses that describe it (incidents, hot issues)
    hints: tuple[tuple[str, str], ...] = ()  # choices shown in a placeholder: 级别 → 重大/较大…
    exact_times: bool = False  # the grammar wants the hour (备案): a day alone is a placeholder


@dataclass(frozen=True)
class _Intent:
    """What only the suggester knows about a command: why it is suggested, and which field
    takes the topic. Everything else is read from the command's grammar."""

    reason: str
    subject: str | None = None
    by_clause: bool = False


_INTENTS: dict[str, _Intent] = {
    "apply": _Intent("看起来您想申请召开发布会", "主题"),
    "file": _Intent("看起来您要为本单位自办的发布会备案", "主题"),
    "incident": _Intent("看起来您要报告一起突发事件", "事件", by_clause=True),
    "hot_issue": _Intent("看起来您要报告一条舆情", "内容", by_clause=True),
    "policy": _Intent("看起来您要报备即将公布的政策文件", "标题"),
    "risk": _Intent("看起来您要函告一项风险评估", "事项"),
    "roster": _Intent("看起来您要报送新闻发言人"),
    "training": _Intent("看起来您要登记新闻发言人培训", "课程"),
    "status": _Intent("看起来您想查看本单位事项的办理进度"),
    "detail": _Intent("看起来您想查看这件事项的详情"),
}


def _command_from_grammar(spec: CommandSpec, intent: _Intent) -> _Command:
    """The suggester's view of a registered command, derived from its grammar."""
    grammar = spec.grammar
    # of fields that stand for one another (姓名 or 企业微信账号) only the first is asked for
    others = {name for group in grammar.one_of for name in group[1:]}
    fields = tuple(
        (field.name, field.required) for field in grammar.fields if field.name not in others
    )
    timed = next((field for field in grammar.fields if field.kind == "time"), None)
    hints = tuple(
        (field.name, "/".join(field.choices))
        for field in grammar.fields
        if field.kind == "choice" and field.required and field.choices
    )
    return _Command(
        spec.name,
        spec.key,
        fields,
        intent.reason,
        timed.name if timed is not None else None,
        timed.prefer if timed is not None else "future",
        intent.subject,
        intent.by_clause,
        hints,
        grammar.exact_times,
    )


def command_table(registry: Registry) -> dict[str, _Command]:
    """Every command the suggester may suggest, as the registry declares it."""
    return {
        key: _command_from_grammar(registry.by_key(key), intent)
        for key, intent in _INTENTS.items()
    }


class _Tokenizer(Protocol):
    def lcut(self, sentence: str, cut_all: bool = False, HMM: bool = True) -> list[str]: ...


@dataclass(frozen=True)
class _Run:
    text: str
    after_intro: bool
    after_locative: bool
    position: int


# --- the suggester ----------------------------------------------------------------------------


class Suggester:
    """Reads free text and suggests a command; jieba is loaded once, on first use or `load()`."""

    def __init__(self, dict_path: Path, stopwords_path: Path, registry: Registry) -> None:
        self._commands = command_table(registry)
        self._dict_path = dict_path
        self._stopwords_path = stopwords_path
        self._lock = threading.Lock()
        self._tokenizer: _Tokenizer | None = None
        self._stopwords: frozenset[str] = frozenset()

    @staticmethod
    def small_talk(text: str) -> str | None:
        """Greetings and thanks, answered without loading jieba."""
        return small_talk(text)

    @property
    def loaded(self) -> bool:
        return self._tokenizer is not None

    def load(self) -> None:
        """Import jieba and build the tokenizer with the domain dictionary (once; thread-safe)."""
        if self._tokenizer is not None:
            return
        with self._lock:
            if self._tokenizer is not None:
                return
            started = time.perf_counter()
            stopwords = frozenset(
                line.strip().lower()
                for line in self._stopwords_path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            )
            tokenizer = _build_tokenizer(self._dict_path)
            self._stopwords = stopwords
            self._tokenizer = tokenizer  # published last: `loaded` means ready
            log.info("suggestions: jieba loaded in %.2f s", time.perf_counter() - started)

    def suggest(self, text: str, now: datetime) -> Suggestion | None:
        """The command `text` most likely means, or None when nothing looks like one."""
        self.load()
        tokenizer = self._tokenizer
        assert tokenizer is not None
        norm = normalise(text)[:_MAX_CHARS]
        if not norm:
            return None
        record = _find_record(norm, now.year)
        words = tokenizer.lcut(norm)
        scores = _scores(words, norm)
        best = max(_PRIORITY, key=lambda name: (scores.get(name, 0.0), -_PRIORITY.index(name)))
        best_score = scores.get(best, 0.0)

        if record is not None and (_QUERY.search(norm) or best_score < _STRONG):
            return _detail(self._commands["detail"], record[0])
        if _COUNT.search(norm):
            return _build(self._commands["status"], {}, [], _COUNT_REASON)
        if _QUERY.search(norm):
            return _build(self._commands["status"], {}, [])
        if any(noun in norm for noun in _CONFERENCE_NOUNS):
            best = "conference"
        elif best_score < _MIN_SCORE:
            return None
        key = best
        if best == "conference":
            if not _WANT.search(norm) or _DONE.search(norm):
                return None  # 发布会的稿子写好了, 上周的发布会开得很成功: no request
            key = "file" if _SELF_HELD.search(norm) else "apply"
        return self._fill(self._commands[key], norm, now, record)

    # --- filling the fields ----------------------------------------------------------------

    def _fill(
        self, command: _Command, norm: str, now: datetime, record: tuple[str, int, int] | None
    ) -> Suggestion:
        values: dict[str, str] = {}
        partial: dict[str, str] = {}  # placeholders with what was read: 时间：（请填写：…几点）
        notes: list[str] = []
        spans: list[tuple[int, int]] = []

        if command.time_field is not None:
            try:
                found = find_time(norm, now, prefer=command.prefer)
            except TimeParseError as exc:
                notes.append(exc.message)
                spans.extend(_unresolved_time(norm, now, command.prefer))
            else:
                if found is not None:
                    parsed, start, end = found
                    label = _time_label(parsed, now)
                    if command.exact_times and not parsed.exact:
                        partial[command.time_field] = f"{label}几点"  # 备案 needs the hour
                    else:
                        values[command.time_field] = label
                    spans.append(_time_span(norm, start, end))
                else:
                    vague = _VAGUE.search(norm)
                    if vague is not None and vague.group(0) != "今年":
                        notes.append(f"“{vague.group(0)}”不够具体，请写明{command.time_field}。")

        for pattern in (_URL,) if command.by_clause else (_URL, _VAGUE):
            spans.extend(match.span() for match in pattern.finditer(norm))
        if record is not None:
            spans.append(record[1:])
        if command.key in ("apply", "file"):
            _conference_extras(norm, values, spans, record)
        if command.key == "hot_issue":
            _hot_issue_extras(norm, values)
        if command.key == "incident":
            level = _LEVEL.search(norm)
            if level is not None:
                values["级别"] = "特别重大" if level.group(1) == "特大" else level.group(1)
        if command.key == "roster":
            _roster_extras(norm, values)
        if command.key == "risk":
            _risk_extras(norm, values)
            for pattern in (_RISK_KIND, _RISK_LEVEL):
                spans.extend(match.span() for match in pattern.finditer(norm))

        if command.subject is not None:
            subject = self._subject(command, norm, spans)
            if subject:
                values[command.subject] = subject
        reason = command.reason
        if command.key == "apply" and values.get("类型") == "吹风会":
            reason = "看起来您想申请召开吹风会"
        return _build(command, values, notes, reason, partial)

    def _subject(self, command: _Command, norm: str, spans: list[tuple[int, int]]) -> str:
        """The topic (or, for incidents and hot issues, the event) of the message."""
        if not command.by_clause:
            for pattern in (_QUOTED, _LABELLED):
                match = pattern.search(norm)
                if match is not None:
                    return _clean(match.group(1))
        if command.key == "hot_issue":  # its time stays: there is no time field to take it
            spans = [span for span in spans if _URL.match(norm, span[0])]
        clean = _blank(norm, spans)
        assert self._tokenizer is not None
        words = self._tokenizer.lcut(clean)
        if command.by_clause:
            intent = "incident" if command.key == "incident" else "hot_issue"
            described = self._describe(words, intent)
            if described:
                return described
        return self._topic(words)

    def _kind(self, word: str, in_run: bool) -> str:
        lower = word.lower()
        if word in _JOIN or word.isspace():
            return "join"
        if in_run and word in _TAIL:
            return "content"
        if word in _INTRO:
            return "intro"
        if word in _LOCATIVE:
            return "locative"
        if (
            word in _FUNCTION
            or lower in self._stopwords
            or word in _VAGUE_TIME
            or _TIMEISH.match(word)
            or not _WORDISH.search(word)
        ):
            return "break"
        return "content"

    def _runs(self, words: Sequence[str]) -> list[_Run]:
        runs: list[_Run] = []
        current: list[str] = []
        kinds: list[str] = []  # the kind of every word so far
        start = 0  # where the current run started

        def close() -> None:
            while current and (current[-1] in _JOIN or current[-1].isspace()):
                current.pop()
            text = _clean("".join(current))
            if len(text) >= 2:
                context = [k for k in kinds[:start] if k != "join"][-2:]
                runs.append(
                    _Run(
                        text,
                        after_intro="intro" in context,
                        after_locative=bool(context) and context[-1] == "locative",
                        position=len(runs),
                    )
                )
            current.clear()

        for word in words:
            kind = self._kind(word, bool(current))
            if kind == "content" or (kind == "join" and current):
                if not current:
                    start = len(kinds)
                current.append(word)
            else:
                if current:
                    close()
            kinds.append(kind)
        if current:
            close()
        return runs

    def _topic(self, words: Sequence[str]) -> str:
        candidates = [
            run
            for run in self._runs(words)
            if not run.after_locative
            and not _ORG_OR_PLACE.match(run.text)
            and run.text not in _GENERIC
        ]
        if not candidates:
            return ""
        best = max(
            candidates,
            key=lambda run: (len(run.text) + (8 if run.after_intro else 0), -run.position),
        )
        return best.text[:60]

    def _describe(self, words: Sequence[str], intent: str) -> str:
        """The clauses that describe what happened: those with the intent's keywords and the
        plain statements next to them, without fillers (报告、紧急) and requests (需要发布信息)."""
        pieces: list[tuple[str, bool]] = []
        clause: list[str] = []
        for word in [*words, "。"]:
            if not _CLAUSE_BREAK.match(word):
                clause.append(word)
                continue
            piece = self._trim_clause(clause, intent)
            if piece is not None:
                pieces.append(piece)
            clause = []
        if not any(keyed for _, keyed in pieces):
            return ""
        return _clean("，".join(text for text, _ in pieces))[:100]

    def _trim_clause(self, clause: list[str], intent: str) -> tuple[str, bool] | None:
        """(the clause trimmed, whether it holds a keyword), or None when it describes nothing."""
        weights = [_weight(word, intent) for word in clause]
        text = "".join(clause)
        patterned = any(name == intent and p.search(text) for name, p, _ in _PATTERNS)
        keyed = patterned or max(weights, default=0.0) >= 2
        if not keyed and any(word in _META or word in _FUNCTION for word in clause):
            return None
        last_key = max((i for i, w in enumerate(weights) if w > 0), default=len(clause) - 1)
        end = len(clause)
        for index in range(last_key + 1, len(clause)):
            if clause[index] in _META:
                end = index
                break
        kept = clause[:end]
        while kept and (kept[0].isspace() or kept[0] in _LEADING):
            if _weight(kept[0], intent) >= 2:
                break
            kept.pop(0)
        while kept and (kept[-1].isspace() or kept[-1] in _TRAILING or kept[-1] in _META):
            kept.pop()
        piece = "".join(kept).strip()
        if not keyed and (len(piece) < 4 or all(self._kind(w, False) != "content" for w in kept)):
            return None
        return (piece, keyed) if piece else None


# --- helpers ------------------------------------------------------------------------------------


def _build_tokenizer(dict_path: Path) -> _Tokenizer:
    """A private jieba tokenizer with the domain dictionary; quiet, warning-free."""
    result: _Tokenizer = domain_tokenizer(dict_path)
    return result


def _detail(command: _Command, record: str) -> Suggestion:
    return Suggestion(
        command=command.word,
        key=command.key,
        fields={"编号": record},
        message=f"{command.word} {record}",
        reason=f"看起来您想查看 {record} 的详情",
    )


def _build(
    command: _Command,
    values: dict[str, str],
    notes: list[str],
    reason: str | None = None,
    partial: dict[str, str] | None = None,
) -> Suggestion:
    lines = [command.word]
    fields: dict[str, str] = {}
    hints = {**dict(command.hints), **(partial or {})}
    for name, required in command.fields:
        if name in values:
            fields[name] = values[name]
            lines.append(f"{name}：{values[name]}")
        elif required and name in hints:
            lines.append(f"{name}：（请填写：{hints[name]}）")
        elif required:
            lines.append(f"{name}：{PLACEHOLDER}")
    text = reason or command.reason
    if notes:
        text = f"{text}。{''.join(notes)}"
    return Suggestion(command.word, command.key, fields, "\n".join(lines), text)
