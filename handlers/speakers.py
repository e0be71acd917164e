"""Speakers matched to the roster (issue 9 A1; R8–R10), shared by 已召开, 更正, the review and
approval cards and 排期 (which warn early about names not in the roster)."""

from __future__ import annotations

from collections.abc import Iterable

from handlers.context import Context
from liuan_bot.domain.members import Member
from liuan_bot.domain.quotas import counts_for
from liuan_bot.domain.roster import RosterPerson, SpeakerMatch, match_speakers
from storage.conference_store import pending_speaker_question
from storage.roster_store import unit_members

# A1: what people answer "是否是 郭学军（…）？" with; taken as 确认 only while they have a
# pending speaker question (otherwise `是…` stays free text).
YES_WORDS = frozenset({"是", "是的", "是他", "是她", "对", "对的", "对，是的", "没错", "正确"})
_YES_TRIM = " \t\n。.!！~～、，,"


def is_bare_yes(text: str) -> bool:
    """`是`, `是的。`, `对`… alone: an answer to a yes/no question, nothing else."""
    return text.strip(_YES_TRIM) in YES_WORDS


async def answers_speaker_question(ctx: Context, text: str) -> bool:
    """A1: a bare `是` from a sender the bot asked about a speaker's name confirms it."""
    if not is_bare_yes(text):
        return False
    return await pending_speaker_question(ctx.session, ctx.sender.userid) is not None


async def match_unit_speakers(
    ctx: Context, unit_pk: int, speakers: Iterable[str]
) -> tuple[SpeakerMatch, dict[str, Member]]:
    """The typed speakers matched to the unit's people (titles stripped), and those people."""
    members = {m.userid: m for m in await unit_members(ctx.session, unit_pk)}
    people = [RosterPerson(m.name, m.userid, m.title) for m in members.values()]
    return match_speakers(list(speakers), people), members


def credit(kind: str, found: SpeakerMatch, members: dict[str, Member]) -> list[str]:
    """The 4·2·1 rules a held conference counts for, from its matched speakers' roles."""
    return list(counts_for(kind, (members[p.userid].roles for _, p in found.matched)))


def unknown_line(found: SpeakerMatch, unit: str) -> str:
    """`郭学君 不在市教育局名册中（是否是 郭学军（市教育局党组书记、局长）？）…`, or ""."""
    if not found.unknown:
        return ""
    parts = []
    for name in found.unknown:
        near = found.suggestions.get(name, ())
        guess = "或".join(p.label(unit) for p in near)
        parts.append(f"{name}（是否是 {guess}？）" if near else name)
    return f"{'、'.join(parts)} 不在{unit}名册中"


async def roster_warning(ctx: Context, unit_pk: int, unit: str, speakers: Iterable[str]) -> str:
    """A1: the early warning shown at application, review, approval and scheduling, or ""."""
    found, _ = await match_unit_speakers(ctx, unit_pk, speakers)
    line = unknown_line(found, unit)
    if not line:
        return ""
    return f"提示：发布人 {line}，召开后不计入本单位的4·2·1指标，请核对姓名。"
