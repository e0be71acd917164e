"""Policy (R18) and risk-assessment (R13) filings: 政策 and 风险评估 (issue 11 §5: split from
the former handlers/filings.py, together with handlers/roster.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from handlers.common import (
    bool_value,
    notify_role,
    own_unit_id,
    read_as_past,
    record_audit,
    require_fields,
    text_value,
    time_value,
    when,
)
from handlers.context import Context
from handlers.plans import RISK_FIELD, link_from_field
from handlers.reminders import ACCOUNTABILITY_LABELS
from liuan_bot.clock import utc
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.commands.registry import CommandSpec
from liuan_bot.domain.roles import UNIT_ROLES, Role
from liuan_bot.errors import NotFound, PermissionDenied, UsageError
from liuan_bot.messages import Reply
from storage.records import next_record_id
from storage.reminder_store import record_accountability
from storage.roster_store import unit_name
from storage.tables import Policy, RiskAssessment

POLICY = CommandGrammar(
    record="optional",
    record_prefixes=("ZC",),
    fields=(
        FieldSpec(
            "标题",
            required=True,
            aliases=("名称", "文件", "文件名称"),
            example="六安市促进民营经济高质量发展若干政策",
        ),
        FieldSpec(
            "公布时间",
            "time",
            required=True,
            aliases=("发布时间", "公布日期", "时间"),
            example="12月10日上午9点",
        ),
        FieldSpec("解读", "link", aliases=("解读材料", "解读链接"), example="待定"),
        FieldSpec("吹风会", "bool", aliases=("是否吹风会",), example="是"),
        RISK_FIELD,
    ),
)
RISK_KINDS = ("重大政策", "重大举措", "重大活动", "敏感事项")
RISK = CommandGrammar(
    fields=(
        FieldSpec(
            "事项", required=True, aliases=("名称", "主题"), example="中心城区义务教育学区划分调整"
        ),
        FieldSpec(
            "类型",
            "choice",
            required=True,
            aliases=("事项类型",),
            choices=RISK_KINDS,
            choice_aliases={
                "政策": "重大政策",
                "举措": "重大举措",
                "重大措施": "重大举措",
                "活动": "重大活动",
                "敏感": "敏感事项",
                "敏感问题": "敏感事项",
            },
            example="重大举措",
        ),
        FieldSpec(
            "等级",
            "choice",
            required=True,
            aliases=("风险等级",),
            choices=("高", "中", "低"),
            choice_aliases={"高风险": "高", "中风险": "中", "中等": "中", "低风险": "低"},
            example="高",
        ),
        FieldSpec(
            "措施",
            aliases=("应对措施", "防范措施"),
            example="提前发布政策解读，开通咨询热线",
            prose=True,
        ),
    )
)


def _required_time(ctx: Context, name: str) -> datetime:
    value = time_value(ctx, name)
    if value is None:
        raise UsageError(f"请写明{name}。")
    return value


# --- 政策 (R18) ----------------------------------------------------------------------------


def _policy_summary(ctx: Context, row: Policy) -> str:
    rough = "（大致时间）" if "公布时间" in ctx.fields.inexact else ""
    return (
        f"《{row.title}》\n公布时间：{when(ctx, row.publish_at)}{rough}\n"
        f"解读：{row.interpretation_url or '待定'}\n吹风会：{'需要' if row.briefing else '不需要'}"
    )


def _policy_duties(row: Policy) -> str:
    lines = ["公布前请做好吹风和预期引导（R18）。"]
    if row.interpretation_url:
        lines.append("公布时请将解读材料同步在市政府网站、本部门网站和媒体发布。")
    else:
        lines.append("解读待定：请在公布前准备好解读材料，公布时同步发布。")
    if row.briefing:
        lines.append("需要吹风会：请在公布前发送“申请发布会 类型：吹风会 …”提出申请。")
    return "\n".join(lines)


async def _update_policy(ctx: Context, record_id: str) -> str:
    """政策 ZC-… 解读：链接 — add the interpretation (it stops the R18 reminders) or correct
    the title, publication time or briefing of a filed policy."""
    if ctx.fields.errors:
        raise UsageError("\n".join(ctx.fields.errors))
    if not ctx.fields.raw:
        raise UsageError(f"请写明要补充或修改的内容，例如：政策 {record_id} 解读：https://…")
    row = (
        await ctx.session.exec(select(Policy).where(col(Policy.record_id) == record_id))
    ).first()
    if row is None:
        raise NotFound(f"没有找到政策文件 {record_id}，请核对编号。")
    unit = await unit_name(ctx.session, row.unit_id)
    if not ctx.sender.may_act_for(unit):
        raise PermissionDenied(f"{record_id} 属于{unit}，您只能办理本单位的政策文件。")
    changed = []
    if "解读" in ctx.fields.values:
        link = text_value(ctx, "解读")
        row.interpretation_url = "" if link == "待定" else link
        changed.append("解读")
    if "标题" in ctx.fields.values:
        row.title = text_value(ctx, "标题").strip("《》“”\"'")
        changed.append("标题")
    if "公布时间" in ctx.fields.values:
        row.publish_at = _required_time(ctx, "公布时间")
        changed.append("公布时间")
    if "吹风会" in ctx.fields.values:
        row.briefing = bool_value(ctx, "吹风会")
        changed.append("吹风会")
    if "风险评估" in ctx.fields.values:
        await link_from_field(ctx, record_id)  # R13
        changed.append("风险评估")
    row.updated_at = ctx.now
    ctx.session.add(row)
    await record_audit(
        ctx, "policy_update", record_id, old=row.state, new=row.state, detail={"changed": changed}
    )
    summary = _policy_summary(ctx, row)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【政策文件更新】{unit} {record_id}（{'、'.join(changed)}）\n{summary}",
    )
    done = "解读材料已登记，相关提醒停止。" if row.interpretation_url else _policy_duties(row)
    return f"已更新 {record_id}（{'、'.join(changed)}）\n{summary}\n{done}"


async def policy(ctx: Context) -> Reply:
    """政策 (R18): a major policy document filed before publication, with its interpretation.

    With a record id (`政策 ZC-2026-0001 解读：…`) it updates that filing instead."""
    if ctx.fields.record_id is not None:
        return Reply.ok(await _update_policy(ctx, ctx.fields.record_id))
    late = read_as_past(ctx, "公布时间")
    require_fields(ctx, POLICY)
    unit_pk = await own_unit_id(ctx)
    record_id = await next_record_id(ctx.session, "ZC", ctx.now.year)
    link = text_value(ctx, "解读", "待定")
    row = Policy(
        record_id=record_id,
        unit_id=unit_pk,
        filer=ctx.sender.userid,
        state="filed",
        title=text_value(ctx, "标题").strip("《》“”\"'"),
        publish_at=_required_time(ctx, "公布时间"),
        interpretation_url="" if link == "待定" else link,
        briefing=bool_value(ctx, "吹风会"),
        late=late,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(row)
    detail = {
        "title": row.title,
        "publish_at": row.publish_at.isoformat(),
        "briefing": row.briefing,
        "late": late,
    }
    if late:
        return Reply.ok(await _late_policy(ctx, row, detail))
    await record_audit(ctx, "policy_file", record_id, old=None, new="filed", detail=detail)
    risk = await link_from_field(ctx, record_id)  # R13
    summary = _policy_summary(ctx, row)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【政策文件备案】{ctx.sender.unit} {record_id}\n{summary}\n报送人：{ctx.sender.name}",
    )
    risk_line = f"\n{risk}" if risk else ""
    return Reply.ok(
        f"已备案政策文件 {record_id}\n{summary}\n{_policy_duties(row)}{risk_line}\n"
        "已告知市政府新闻办。"
    )


async def _late_policy(ctx: Context, row: Policy, detail: dict[str, object]) -> str:
    """A3 (R18, R14): accepted, recorded as late (`Policy.late`), and on the accountability
    list as a major policy not interpreted in time."""
    await record_audit(ctx, "policy_file", row.record_id, old=None, new="filed", detail=detail)
    risk = await link_from_field(ctx, row.record_id)  # R13
    await record_accountability(
        ctx.session,
        [
            {
                "unit_id": row.unit_id,
                "rule": "R18",
                "label": ACCOUNTABILITY_LABELS["R18"],
                "subject": f"policy:{row.record_id}",
                "period": "publication",
                "evidence": [],
                "created_at": utc(ctx.now),
            }
        ],
    )
    summary = _policy_summary(ctx, row)
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"【政策文件公布后补报】{ctx.sender.unit} {row.record_id}\n{summary}\n"
        f"报送人：{ctx.sender.name}\n已记为“重大政策未及时解读”（R18）。",
    )
    return (
        f"已登记政策文件 {row.record_id}（公布后补报）\n{summary}\n"
        "该文件已于公布后才报备，按规定记为“重大政策未及时解读”（R18），已告知市政府新闻办。\n"
        + (f"{risk}\n" if risk else "")
        + f"请尽快补发解读材料：政策 {row.record_id} 解读：链接"
    )


# --- 风险评估 (R13) ------------------------------------------------------------------------


def _risk_letter(ctx: Context, row: RiskAssessment) -> str:
    head = f"【高风险】风险评估函告 {row.record_id}，请优先研判"
    if row.level != "高":
        head = f"【风险评估函告】{row.record_id}"
    title = f"（{ctx.sender.title}）" if ctx.sender.title else ""
    return (
        f"{head}\n市政府新闻办：\n{ctx.sender.unit}对以下事项进行了风险评估，特此函告。\n"
        f"事项：{row.subject}\n类型：{row.kind}\n风险等级：{row.level}\n"
        f"应对措施：{row.measures or '未填写'}\n"
        f"报送人：{ctx.sender.name}{title}，{when(ctx, ctx.now)}"
    )


async def risk(ctx: Context) -> Reply:
    """风险评估 (R13): a written risk-assessment letter (函告) to every news office member."""
    require_fields(ctx, RISK)
    unit_pk = await own_unit_id(ctx)
    record_id = await next_record_id(ctx.session, "FX", ctx.now.year)
    row = RiskAssessment(
        record_id=record_id,
        unit_id=unit_pk,
        filer=ctx.sender.userid,
        state="filed",
        subject=text_value(ctx, "事项"),
        kind=text_value(ctx, "类型"),
        level=text_value(ctx, "等级"),
        measures=text_value(ctx, "措施"),
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(row)
    detail = {"subject": row.subject, "kind": row.kind, "level": row.level}
    await record_audit(ctx, "risk_notify", record_id, old=None, new="filed", detail=detail)
    await notify_role(ctx, Role.NEWS_OFFICE, _risk_letter(ctx, row))
    urgent = "（高风险，已加急）" if row.level == "高" else ""
    hint = ""
    if row.level == "高" and not row.measures:
        hint = "\n高风险事项还没写应对措施，请尽快与市政府新闻办沟通。"
    return Reply.ok(
        f"已向市政府新闻办函告风险评估 {record_id}{urgent}\n"
        f"事项：{row.subject}\n类型：{row.kind}\n风险等级：{row.level}{hint}"
    )


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        key="policy",
        name="政策",
        aliases=("政策文件",),
        summary="重大政策文件公布前备案：登记公布时间、解读材料和吹风会，告知市政府新闻办",
        usage="政策 标题：… 公布时间：… [解读：链接/待定] [吹风会：是/否]\n"
        "补充解读：政策 编号 解读：链接",
        example="政策\n标题：六安市促进民营经济高质量发展若干政策\n公布时间：12月10日上午9点\n"
        "解读：待定\n吹风会：是\n\n"
        "政策文件 标题：六安市城市更新实施办法 公布时间：12月15日 "
        "解读：https://www.luan.gov.cn/zcjd/456.html\n\n"
        "政策 ZC-2026-0001 解读：https://www.luan.gov.cn/zcjd/789.html",
        handler=policy,
        roles=UNIT_ROLES,
        rules=("R18",),
        grammar=POLICY,
    ),
    CommandSpec(
        key="risk",
        name="风险评估",
        aliases=("风险评估函告", "风险函告"),
        summary="重大政策、举措、活动或敏感事项出台前，向市政府新闻办书面函告风险评估",
        usage="风险评估 事项：… 类型：重大政策/重大举措/重大活动/敏感事项 等级：高/中/低 "
        "[措施：…]",
        example="风险评估\n事项：中心城区义务教育学区划分调整\n类型：重大举措\n等级：高\n"
        "措施：提前发布政策解读，开通咨询热线\n\n"
        "风险评估 事项：2027年春节烟花爆竹燃放管理 类型：敏感 等级：中",
        handler=risk,
        roles=UNIT_ROLES,
        rules=("R13",),
        grammar=RISK,
    ),
)
