"""The command registry: declared once, help generated from it (issue 2)."""

from __future__ import annotations

from datetime import datetime

from handlers.help import render_help
from handlers.registry import COMMANDS, build_registry
from liuan_bot.clock import SHANGHAI
from liuan_bot.commands.fields import parse_fields
from liuan_bot.domain.members import Member
from liuan_bot.domain.roles import Role


def member(*roles: Role) -> Member:
    return Member("u", "王伟", "市财政局", "市直部门", True, frozenset(roles))


def test_every_command_word_is_unique_and_every_example_parses_cleanly() -> None:
    registry = build_registry()
    now = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
    for spec in COMMANDS:
        for example in spec.example.split("\n\n"):
            match = registry.match(example)
            assert match is not None, example
            assert match.spec.key == spec.key, example
            parsed = parse_fields(match.rest, spec.grammar, now)
            assert parsed.errors == [], example
            assert parsed.missing == [], example


def test_full_width_and_spaced_input_finds_the_command() -> None:
    registry = build_registry()
    for text in ("帮助", "　帮助　", "帮助 我的信息", "@机器人 帮助", "HELP".lower(), "我是谁"):
        assert registry.match(text) is not None, text
    assert registry.match("helper") is None


def test_every_command_word_finds_its_command_alone_and_before_its_arguments() -> None:
    """The words are looked up by their first character (CommandWords): each word, alone or
    followed by arguments, finds its own command, the longest word winning (申请发布会, not
    申请), and an ASCII word in any case."""
    registry = build_registry()
    for spec in registry.specs:
        for word in spec.words:
            for text in (word, f"{word}\n主题：测试", f"{word} 测试"):
                match = registry.match(text)
                assert match is not None, text
                assert match.spec.key == spec.key, text
    shouted, quiet = registry.match("HELP 申请"), registry.match("help")
    assert shouted is not None
    assert quiet is not None
    assert shouted.spec.key == quiet.spec.key
    longest = registry.match("申请发布会\n主题：x")
    assert longest is not None
    assert longest.word == "申请发布会"
    assert registry.match("Xyz 帮助") is None


def listed_commands(text: str) -> set[str]:
    """The command names a help text lists (full lines "· 名称：…" or compact "名称、名称")."""
    names: set[str] = set()
    body = text.split("\n\n", 1)[0]  # the list ends at the blank line before the usage tip
    for line in body.split("\n")[1:]:
        if line.startswith("· "):
            names.add(line[2:].split("：", 1)[0])
        else:
            names.update(line.split("、"))
    return names


def test_help_lists_only_commands_the_sender_may_use() -> None:
    registry = build_registry()
    for roles in [(role,) for role in Role] + [tuple(Role)]:
        text = render_help(registry, member(*roles))
        allowed = {spec.name for spec in registry.specs if spec.allowed(roles)}
        assert listed_commands(text) == allowed, roles
    spokesperson = listed_commands(render_help(registry, member(Role.SPOKESPERSON)))
    assert {"帮助", "我的信息"} <= spokesperson
    news_only = {s.name for s in registry.specs if s.roles == frozenset({Role.NEWS_OFFICE})}
    assert news_only
    assert not news_only & spokesperson


def test_unknown_text_suggests_the_closest_commands() -> None:
    assert [s.key for s in build_registry().closest("帮主")] == ["help"]
    assert build_registry().closest("今天天气怎么样") == []


def test_help_for_every_role_fits_one_passive_reply() -> None:
    registry = build_registry()
    for role in Role:
        text = render_help(registry, member(role))
        assert len(text.encode()) <= 2048, role
    everything = render_help(registry, member(*Role))
    assert len(everything.encode()) <= 2048


def test_a_remembered_match_is_the_match_and_the_memory_stays_bounded() -> None:
    """A message is matched up to three times on its way (issue 11 §1): the registry keeps
    its last matches, each the same as a fresh one, and never more than a few hundred."""
    from liuan_bot.commands import registry as registry_module

    registry = build_registry()
    fresh = build_registry()
    text = "申请发布会\n主题：冬季供暖\n时间：明天上午10点"
    first = registry.match(text)
    assert first is not None
    assert registry.match(text) is first
    assert first == fresh.match(text)
    assert registry.match("你好") is None
    assert registry.match("你好") is None
    for i in range(registry_module._MATCHES_KEPT + 10):
        assert registry.match(f"舆情 {i}") == fresh.match(f"舆情 {i}")
    assert len(registry._matched) <= registry_module._MATCHES_KEPT
    long_text = "舆情\n内容：" + "长" * registry_module._MATCH_KEPT_CHARS
    assert registry.match(long_text) == fresh.match(long_text)
    assert long_text not in registry._matched
