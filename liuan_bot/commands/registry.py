"""Command specs and the registry. Every command is declared once; help is generated from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from liuan_bot.commands.fields import CommandGrammar, FieldValue, parse_fields
from liuan_bot.commands.grammar import (
    CommandWords,
    Split,
    edit_distance,
    normalise,
    split_command,
)
from liuan_bot.domain.roles import ALL_ROLES, Role
from liuan_bot.messages import Reply

# A command's or a card action's handler: the `handlers.context.Context` in, a typed `Reply`
# out (issue 11 §4); dispatch coerces nothing.
Handler = Callable[[Any], Awaitable[Reply]]


@dataclass(frozen=True)
class CommandSpec:
    """One command: its Chinese name, aliases, usage, example, roles and rule ids."""

    key: str  # canonical English name (apply, review, help, …)
    name: str  # Chinese command word
    summary: str
    usage: str
    example: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    roles: frozenset[Role] = ALL_ROLES
    rules: tuple[str, ...] = ()
    grammar: CommandGrammar = field(default_factory=CommandGrammar)
    # Changes nothing: handled first, then stored handled with its reply in one transaction
    # (handlers/dispatch.py). Its handler must not write through the session.
    read_only: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def allowed(self, roles: Iterable[Role]) -> bool:
        return bool(self.roles & frozenset(roles))


@dataclass(frozen=True)
class CardAction:
    """A button whose key starts with `prefix|` (收到, 已阅 …), handled by `handler` in place
    of a text command; registered with the commands (issue 11 §4)."""

    prefix: str
    handler: Handler


@dataclass(frozen=True)
class Match:
    spec: CommandSpec
    word: str
    rest: str


_MATCHES_KEPT = 256
_MATCH_KEPT_CHARS = 2000


class Registry:
    """All command specs; finds the one a message starts with."""

    def __init__(
        self,
        specs: Iterable[CommandSpec],
        card_actions: Iterable[CardAction] = (),
        lexicons: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        # configured vocabularies (channel aliases…) bound into the grammars: parse and the
        # handlers see the same fields
        self.specs: tuple[CommandSpec, ...] = tuple(
            replace(spec, grammar=spec.grammar.bind(lexicons)) if lexicons else spec
            for spec in specs
        )
        self.card_actions: dict[str, CardAction] = {}
        for action in card_actions:
            if action.prefix in self.card_actions:
                raise ValueError(f"card action {action.prefix!r} declared twice")
            self.card_actions[action.prefix] = action
        self._by_word: dict[str, CommandSpec] = {}
        keys: set[str] = set()
        for spec in self.specs:
            if spec.key in keys:
                raise ValueError(f"duplicate command key {spec.key}")
            keys.add(spec.key)
            for word in spec.words:
                normal = normalise(word)
                if normal in self._by_word:
                    raise ValueError(f"command word {word!r} declared twice")
                self._by_word[normal] = spec
        self._words = CommandWords(self._by_word)
        # a message is matched up to four times on its way (read-only? preload? its write
        # unit's key, run): the last few texts' matches are kept (a pure function of the text)
        self._matched: dict[str, Match | None] = {}

    def card_action(self, event_key: str) -> CardAction | None:
        """The registered action of a clicked button's key (`prefix|…`), if any."""
        prefix, bar, _rest = event_key.partition("|")
        return self.card_actions.get(prefix) if bar else None

    def by_key(self, key: str) -> CommandSpec:
        for spec in self.specs:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def match(self, text: str) -> Match | None:
        if text in self._matched:
            return self._matched[text]
        split: Split | None = split_command(normalise(text), self._words)
        found = None if split is None else Match(self._by_word[split.word], split.word, split.rest)
        if len(text) <= _MATCH_KEPT_CHARS:
            if len(self._matched) >= _MATCHES_KEPT:
                self._matched.clear()
            self._matched[text] = found
        return found

    def closest(self, text: str, limit: int = 3) -> list[CommandSpec]:
        """Commands whose words look most like the start of `text` (for unknown input)."""
        head = normalise(text).split("\n")[0].split(" ")[0][:8]
        if not head:
            return []
        scored: dict[str, tuple[int, CommandSpec]] = {}
        for word, spec in self._by_word.items():
            distance = min(edit_distance(head[: len(word)], word), edit_distance(head, word))
            if any(ch in word for ch in head) and distance <= max(1, len(word) // 2):
                best = scored.get(spec.key)
                if best is None or distance < best[0]:
                    scored[spec.key] = (distance, spec)
        return [spec for _, spec in sorted(scored.values(), key=lambda item: item[0])][:limit]

    def visible_to(self, roles: Iterable[Role]) -> list[CommandSpec]:
        role_set = frozenset(roles)
        return [spec for spec in self.specs if spec.allowed(role_set)]


def as_json_value(value: FieldValue, end: datetime | None = None) -> str | list[str]:
    """How `parse` prints a field: ISO 8601 times (a range as start/end), lists of names,
    strings otherwise."""
    if isinstance(value, datetime):
        return value.isoformat() + (f"/{end.isoformat()}" if end is not None else "")
    if isinstance(value, list):
        return list(value)
    return str(value)


def understand(registry: Registry, text: str, now: datetime) -> dict[str, Any]:
    """What the bot understood of `text`, as `python bot.py parse` prints it (issue 3)."""
    match = registry.match(text)
    if match is None:
        return {
            "command": None,
            "record_id": None,
            "fields": {},
            "errors": ["没有识别出命令。发送“帮助”查看可用命令。"],
        }
    parsed = parse_fields(match.rest, match.spec.grammar, now, word=match.word)
    fields: dict[str, str | list[str]] = {}
    for spec in match.spec.grammar.fields:
        if spec.name in parsed.values:
            value = parsed.values[spec.name]
            fields[spec.name] = (
                parsed.raw[spec.name]
                if spec.kind == "bool"
                else as_json_value(value, parsed.ends.get(spec.name))
            )
    if parsed.decision is not None:
        fields["结论"] = parsed.decision
    errors = list(parsed.errors)
    if parsed.missing:
        errors.insert(0, f"缺少：{'、'.join(parsed.missing)}")
    return {
        "command": match.spec.key,
        "record_id": parsed.record_id,
        "fields": fields,
        "errors": errors,
    }
