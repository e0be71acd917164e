"""Spokesperson roster (R4, R5) and training (R7) filings: 报送发言人 and 培训 (issue 11
§5: split from the former handlers/filings.py, together with handlers/policies.py).

报送发言人 (R4, R5): one message is the unit's whole spokesperson filing for the current year
and replaces any earlier filing of that year, so what the news office holds is always the
unit's latest complete list. A second spokesperson is written as a second group beginning
with 姓名 (or with the command word repeated on a new line) in the same message. Splitting
职务 on 、 is not offered: titles contain it (党组成员、副局长).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise

from handlers.common import (
    notify_role,
    own_unit_id,
    record_audit,
    require_fields,
    text_value,
    time_value,
)
from handlers.context import Context
from liuan_bot.commands.fields import (
    CommandGrammar,
    FieldSpec,
    ParsedFields,
    parse_fields,
    retry_message,
)
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import MAX_SPOKESPERSONS, normalise_mobile, userid_problem_of
from liuan_bot.errors import Conflict, NotFound, UsageError
from liuan_bot.messages import Reply
from storage.filing_store import (
    latest_training,
    people_named,
    person_by_userid,
    replace_roster_filing,
    training_exists,
)
from storage.roster_store import unit_members
from storage.tables import Person, RosterFiling, Training, Unit

NEWS = frozenset({Role.NEWS_OFFICE})
ROSTER_FILERS = frozenset({Role.MAIN_LEADER, Role.LIAISON})
ROSTER_WORDS = ("报送发言人", "发言人报送")

ROSTER = CommandGrammar(
    fields=(
        FieldSpec(
            "姓名", "names", required=True, aliases=("发言人", "发言人姓名"), example="鲍克勤"
        ),
        FieldSpec("职务", required=True, aliases=("职位",), example="党组成员、副局长"),
        FieldSpec(
            "手机",
            required=True,
            aliases=("手机号", "手机号码", "联系电话", "电话"),
            example="15580016356",
        ),
        FieldSpec("企业微信账号", aliases=("企业微信", "账号"), example="baokeqin"),
    )
)
TRAINING = CommandGrammar(
    fields=(
        FieldSpec("姓名", required=True, aliases=("学员", "人员"), example="王琳"),
        FieldSpec("企业微信账号", required=True, aliases=("企业微信", "账号"), example="wanglin2"),
        FieldSpec(
            "日期",
            "time",
            required=True,
            aliases=("时间", "培训日期"),
            prefer="past",
            example="11月20日",
        ),
        FieldSpec("课程", aliases=("内容", "名称"), example="新闻发言人业务培训"),
    ),
    one_of=(("姓名", "企业微信账号"),),
)

_ROSTER_WORD_AGAIN = re.compile(
    r"(?:^|(?<=\s))(?:" + "|".join(ROSTER_WORDS) + r")(?=[\s:]|$)[\s:]*"
)
_NAME_KEY = re.compile(r"(?:^|(?<=[\s;,.。]))(?:发言人姓名|发言人|姓名)\s*:")


def _required_time(ctx: Context, name: str) -> datetime:
    value = time_value(ctx, name)
    if value is None:
        raise UsageError(f"请写明{name}。")
    return value


def _day(ctx: Context, moment: datetime) -> str:
    local = moment.astimezone(ctx.now.tzinfo)
    return f"{local.year}年{local.month}月{local.day}日"


# --- 报送发言人 (R4, R5) --------------------------------------------------------------------


@dataclass(frozen=True)
class Spokesperson:
    name: str
    title: str
    mobile: str
    userid: str


def _person_blocks(args: str) -> list[str]:
    """The groups of one filing: a new group begins at each 姓名 after the first."""
    text = _ROSTER_WORD_AGAIN.sub("", args)
    starts = [m.start() for m in _NAME_KEY.finditer(text)][1:]
    return [text[a:b] for a, b in pairwise([0, *starts, len(text)])]


def _names(fields: ParsedFields) -> list[str]:
    value = fields.values.get("姓名")
    return value if isinstance(value, list) else []


def _read_person(fields: ParsedFields) -> tuple[Spokesperson | None, list[str]]:
    problems = list(fields.errors)
    if fields.missing:
        problems.insert(0, f"还缺少：{'、'.join(fields.missing)}。")
    names = _names(fields)
    if fields.raw.get("姓名") and not names:
        problems.append("姓名：没有看到发言人的姓名。")
    if len(names) > 1:
        problems.append(
            f"一组只能写一位发言人（收到：{'、'.join(names)}），"
            "两位请各写一组“姓名/职务/手机”，每组以“姓名”开头。"
        )
    raw_mobile = fields.raw.get("手机", "")
    mobile = normalise_mobile(raw_mobile) if raw_mobile else ""
    if mobile is None:
        problems.append(f"手机号“{raw_mobile}”不对，应为以 1 开头的 11 位数字。")
    userid = fields.raw.get("企业微信账号", "")
    if userid and (why := userid_problem_of(userid)):
        problems.append(why)
    if problems or mobile is None or not names:
        return None, problems
    return Spokesperson(names[0], str(fields.values["职务"]), mobile, userid), []


def _read_filing(ctx: Context) -> list[Spokesperson]:
    """Every spokesperson of the message, or one UsageError listing all problems."""
    groups = [parse_fields(block, ROSTER, ctx.now) for block in _person_blocks(ctx.args)]
    names = [name for fields in groups for name in _names(fields)]
    if len(names) > MAX_SPOKESPERSONS:
        raise UsageError(
            f"按规定（R4），每个单位确定1–{MAX_SPOKESPERSONS}名新闻发言人，"
            f"这次报送了{len(names)}位（{'、'.join(names)}）。请只报送1–{MAX_SPOKESPERSONS}位。"
        )
    people: list[Spokesperson] = []
    problems: list[str] = []
    for index, fields in enumerate(groups, 1):
        person, issues = _read_person(fields)
        prefix = f"第{index}位：" if len(groups) > 1 else ""
        problems += [prefix + issue for issue in issues]
        people += [person] if person else []
    if len({p.name for p in people}) < len(people):
        problems.append("同一位发言人写了两次，请每人只写一组。")
    if problems:
        lines = [retry_message(ctx.word, ROSTER, groups[0], ctx.now)]  # their own text (E2)
        lines += [retry_message("", ROSTER, fields, ctx.now).lstrip("\n") for fields in groups[1:]]
        raise UsageError("\n".join([*problems, "请改正后重新发送：\n" + "\n\n".join(lines)]))
    return people


async def _grant_spokesperson(ctx: Context, member: Person, record_id: str) -> None:
    """R4: the person filed as spokesperson holds that role in the roster."""
    order = [role.value for role in Role]
    before = list(member.roles)
    member.roles = sorted(
        {*before, Role.SPOKESPERSON.value},
        key=lambda r: order.index(r) if r in order else len(order),
    )
    member.updated_at = ctx.now
    ctx.session.add(member)
    detail = {"userid": member.userid, "added": Role.SPOKESPERSON.value, "roles": before}
    await record_audit(ctx, "grant_role", record_id, old=None, new=None, detail=detail)


async def _check_account(
    ctx: Context, unit_pk: int, person: Spokesperson, record_id: str
) -> tuple[Spokesperson, str]:
    """Match a given 企业微信账号 to the roster (R1: own unit only); a note for the reply."""
    if not person.userid:
        return person, ""
    found = await person_by_userid(ctx.session, person.userid)
    if found is None:
        return (
            person,
            f"{person.name}的企业微信账号 {person.userid} 还不在名册中，请联系市政府新闻办登记。",
        )
    member, unit = found
    if member.unit_id != unit_pk:
        raise UsageError(
            f"企业微信账号 {person.userid} 在名册中是{unit.name}的{member.name}，"
            "不是本单位人员，请核对后重新报送。"
        )
    if member.name != person.name:
        raise UsageError(
            f"企业微信账号 {person.userid} 在名册中是{member.name}，"
            f"与填写的姓名“{person.name}”不一致，请核对后重新报送。"
        )
    person = replace(person, userid=member.userid)
    if Role.SPOKESPERSON.value in member.roles:
        return person, ""
    await _grant_spokesperson(ctx, member, record_id)
    return person, f"已在名册中为{member.name}加上“新闻发言人”角色。"


async def _r4_roster_note(ctx: Context, unit_pk: int) -> str:
    """R4: a warning when the unit's roster now holds more than two spokespersons."""
    members = sorted(await unit_members(ctx.session, unit_pk), key=lambda m: m.userid)
    names = [m.name for m in members if Role.SPOKESPERSON in m.roles]
    if len(names) <= MAX_SPOKESPERSONS:
        return ""
    return (
        f"注意：名册中{ctx.sender.unit}现有{len(names)}名新闻发言人（{'、'.join(names)}），"
        f"按规定（R4）应为1–{MAX_SPOKESPERSONS}名，请与市政府新闻办核对名册。"
    )


def _person_line(person: Spokesperson) -> str:
    account = f"，企业微信账号 {person.userid}" if person.userid else ""
    return f"· {person.name}（{person.title}），手机 {person.mobile}{account}"


async def roster(ctx: Context) -> Reply:
    """报送发言人 (R5): the unit's spokespersons for this year, replacing earlier filings."""
    people = _read_filing(ctx)
    unit_pk = await own_unit_id(ctx)
    year = ctx.now.year
    record_id = f"roster:{year}:{unit_pk}"
    checked: list[Spokesperson] = []
    notes: list[str] = []
    for person in people:
        person, note = await _check_account(ctx, unit_pk, person, record_id)
        checked.append(person)
        notes += [note] if note else []
    rows = [
        RosterFiling(
            unit_id=unit_pk,
            year=year,
            name=p.name,
            title=p.title,
            mobile=p.mobile,
            userid=p.userid,
            filer=ctx.sender.userid,
            created_at=ctx.now,
        )
        for p in checked
    ]
    old = await replace_roster_filing(ctx.session, unit_pk, year, rows)
    replaced = [row.name for row in old]
    detail = {"unit": ctx.sender.unit, "names": [p.name for p in checked], "replaced": replaced}
    await record_audit(
        ctx, "roster_file", record_id, old="filed" if old else None, new="filed", detail=detail
    )
    listing = "\n".join(_person_line(p) for p in checked)
    update = "（更新）" if old else ""
    warning = await _r4_roster_note(ctx, unit_pk)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【发言人报送{update}】{ctx.sender.unit} {year}年度新闻发言人：\n{listing}\n"
        f"报送人：{ctx.sender.name}" + (f"\n{warning}" if warning else ""),
    )
    lines = [f"已报送{ctx.sender.unit}{year}年度新闻发言人（{len(checked)}位）：", listing]
    if old:
        lines.append(f"已替换本年度此前报送的名单（{'、'.join(replaced)}）。")
    lines += [*notes, warning] if warning else notes
    if len(checked) == 1:
        lines.append("提示：再次报送会替换本年度名单，两位发言人请在同一条消息里各写一组。")
    lines.append("已告知市政府新闻办。")
    return Reply.ok("\n".join(lines))


# --- 培训 (R7) -----------------------------------------------------------------------------


def _merge_alternatives(ctx: Context, grammar: CommandGrammar) -> None:
    """List “姓名或企业微信账号” once when neither of a one_of group was given."""
    missing = ctx.fields.missing
    for group in grammar.one_of:
        if all(name in missing for name in group):
            at = missing.index(group[0])
            missing[:] = [n for n in missing if n not in group]
            missing.insert(at, "或".join(group))


async def _trainee_by_name(ctx: Context, name: str) -> tuple[Person, Unit]:
    found = await people_named(ctx.session, name)
    if not found:
        raise NotFound(f"名册里没有叫“{name}”的人员，请核对姓名，或改用企业微信账号。")
    if len(found) > 1:
        listing = "\n".join(
            f"· {p.name}（{u.name}，{p.title}），企业微信账号 {p.userid}" for p, u in found
        )
        day = ctx.fields.raw.get("日期", "…")
        raise UsageError(
            f"名册里有{len(found)}位“{name}”：\n{listing}\n请写明企业微信账号后重新发送，例如：\n"
            f"培训 企业微信账号：{found[0][0].userid} 日期：{day}"
        )
    return found[0]


async def _trainee(ctx: Context) -> tuple[Person, Unit]:
    userid, name = text_value(ctx, "企业微信账号"), text_value(ctx, "姓名")
    if not userid:
        return await _trainee_by_name(ctx, name)
    found = await person_by_userid(ctx.session, userid)
    if found is None:
        raise NotFound(f"名册里没有企业微信账号 {userid}，请核对。")
    if name and found[0].name != name:
        raise UsageError(
            f"企业微信账号 {userid} 在名册中是{found[0].name}，"
            f"与填写的姓名“{name}”不一致，请核对。"
        )
    return found


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


async def training(ctx: Context) -> Reply:
    """培训 (R7): a person's training, and when the next one falls due."""
    _merge_alternatives(ctx, TRAINING)
    require_fields(ctx, TRAINING)
    person, unit = await _trainee(ctx)
    assert person.id is not None
    trained_on, course = _required_time(ctx, "日期"), text_value(ctx, "课程")
    if await training_exists(ctx.session, person.id, trained_on, course):
        raise Conflict(
            f"{person.name}在{_day(ctx, trained_on)}的这次培训已经登记过了，无需重复登记。"
        )
    row = Training(
        person_id=person.id,
        trained_on=trained_on,
        course=course,
        recorded_by=ctx.sender.userid,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    await ctx.session.flush()
    latest = await latest_training(ctx.session, person.id) or trained_on
    detail = {"userid": person.userid, "trained_on": trained_on.isoformat(), "course": course}
    await record_audit(
        ctx, "training", f"training:{row.id}", old=None, new="recorded", detail=detail
    )
    years = ctx.deps.records.r7_window_years  # R7: config/reminders.toml, as the reminders
    due = _years_later(latest.astimezone(ctx.now.tzinfo), years)
    basis = f"（按最近一次培训{_day(ctx, latest)}计算）" if latest > trained_on else ""
    return Reply.ok(
        f"已登记培训：{person.name}（{unit.name}，{person.title or '职务未填写'}）\n"
        f"日期：{_day(ctx, trained_on)}\n课程：{course or '未填写'}\n"
        f"下次培训应在{_day(ctx, due)}前完成{basis}（R7：每{years}年至少一次）。"
    )


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="roster",
        name=ROSTER_WORDS[0],
        aliases=ROSTER_WORDS[1:],
        summary="年度报送本单位新闻发言人（1–2名），新的报送替换本年度此前的名单",
        usage="报送发言人 姓名：… 职务：… 手机：… [企业微信账号：…]"
        "（两位发言人在同一条消息里各写一组，每组以“姓名”开头）",
        example="报送发言人\n姓名：鲍克勤\n职务：党组成员、副局长\n手机：155 8001 6356\n"
        "企业微信账号：baokeqin",
        handler=roster,
        roles=ROSTER_FILERS,
        rules=("R4", "R5"),
        grammar=ROSTER,
    ),
    CommandSpec(
        key="training",
        name="培训",
        aliases=("培训记录", "登记培训"),
        summary="登记负责同志和发言人参加培训的情况（每3年至少一次）",
        usage="培训 姓名：…（或 企业微信账号：…） 日期：… [课程：…]",
        example="培训 姓名：鲍克勤 日期：11月20日 课程：新闻发言人业务培训\n\n"
        "培训 企业微信账号：wanglin2 日期：2026年9月15日",
        handler=training,
        roles=NEWS,
        rules=("R7",),
        grammar=TRAINING,
    ),
)
