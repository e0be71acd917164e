"""审核 and 审批 (R15), by text or by button card; card clicks are routed here.

A click is turned into the equivalent text command and handled exactly like it: same
permission check, same audit entry. The clicked card's buttons become the outcome; the other
copies of the card are updated through the API; a stale card or a second click changes
nothing and says why.
"""

from __future__ import annotations

from secrets import token_hex
from typing import Any

from handlers.common import (
    notify_role,
    notify_users,
    record_audit,
    refusals,
    require_fields,
    text_value,
    when,
)
from handlers.context import Context
from handlers.speakers import roster_warning
from liuan_bot.commands.fields import CommandGrammar, FieldSpec
from liuan_bot.domain.roles import Role
from liuan_bot.domain.workflow import NEXT_STEP, Action, State, actors_of, transition
from liuan_bot.errors import NotFound, UsageError
from liuan_bot.messages import Outgoing, Reply
from storage.conference_store import (
    card_by_task,
    conference_for_update,
    open_cards,
    response_code_of,
)
from storage.roster_store import unit_name, userids_with_role
from storage.tables import Card, Conference

REVIEW = CommandGrammar(
    record="required",
    record_prefixes=("SQ",),
    decisions=("通过", "驳回"),
    decision_aliases={
        "不通过": "驳回",
        "不同意": "驳回",
        "退回": "驳回",
        "拒绝": "驳回",
        "同意": "通过",
    },
    decision_required=True,
    decision_label="审核结论",
    free_field="理由",
    fields=(
        FieldSpec(
            "理由",
            aliases=("原因", "意见", "审核意见", "说明"),
            example="主题与上月发布会重复，建议合并",
            prose=True,
            required_if=("驳回",),
        ),
    ),
)
APPROVE = CommandGrammar(
    record="required",
    record_prefixes=("SQ",),
    decisions=("同意", "不同意"),
    decision_aliases={"批准": "同意", "通过": "同意", "不批准": "不同意", "驳回": "不同意"},
    decision_required=True,
    decision_label="审批结论",
    word_decisions={"批准": "同意"},  # `批准 SQ-…`: the command word is the decision
    free_field="意见",
    fields=(
        FieldSpec("意见", aliases=("审批意见", "批示", "理由"), example="同意召开", prose=True),
    ),
)
PURPOSE_WORD = {"review": "审核", "approve": "审批"}


async def _load(ctx: Context) -> tuple[Conference, str]:
    record_id = ctx.fields.record_id or ""
    conf = await conference_for_update(ctx.session, record_id)
    if conf is None:
        raise NotFound(f"没有找到 {record_id}，请核对编号。")
    return conf, await unit_name(ctx.session, conf.unit_id)


def _decide(ctx: Context, conf: Conference, action: Action, unit: str) -> State:
    actors = actors_of(
        ctx.sender,
        record_unit=unit,
        record_filer=conf.filer,
        disclosure_reviews=ctx.deps.records.disclosure_reviews,
    )
    with refusals():
        return transition(conf.kind, State(conf.state), action, conf.record_id, actors).new


def _card(
    conf: Conference, unit: str, purpose: str, task_id: str, ctx: Context, warning: str
) -> dict[str, Any]:
    """A6: the card shows what the reviewer decides on — 内容, 稿件格式 and, early (A1),
    speakers not in the roster."""
    word = PURPOSE_WORD[purpose]
    yes, no = ("通过", "驳回") if purpose == "review" else ("同意", "不同意")
    title = "发布会申请待审核" if purpose == "review" else "市政府新闻发布会待审批"
    rows = [
        {"keyname": "时间", "value": when(ctx, conf.starts_at)},
        {"keyname": "地点", "value": conf.venue or "待定"},
        {"keyname": "发布人", "value": "、".join(conf.speakers)[:60] or "待定"},
        {"keyname": "类型", "value": conf.conf_type + ("（直播）" if conf.live else "")},
        {"keyname": "稿件格式", "value": conf.draft_format[:60] or "待定"},
    ]
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "source": {"desc": "六安政务新闻发布"},
        "main_title": {"title": title, "desc": f"{conf.record_id} · {unit}"},
        "sub_title_text": f"《{conf.topic}》"[:120],
        "horizontal_content_list": rows,
        "task_id": task_id,
        "button_list": [
            {"text": yes, "style": 1, "key": f"{word}|{conf.record_id}|{yes}"},
            {"text": no, "style": 2, "key": f"{word}|{conf.record_id}|{no}"},
        ],
    }
    quote = "\n".join(
        part for part in (f"内容：{conf.content}" if conf.content else "", warning) if part
    )
    if quote:
        card["quote_area"] = {"type": 0, "quote_text": quote[:400]}
    return card


async def approvers_for(ctx: Context, unit: str) -> list[str]:
    """A7: the deputy secretary-general(s) in charge of `unit` (config/approvers.toml), or
    every approver when the unit has no mapping or none of its approvers is in the roster."""
    everyone = await userids_with_role(ctx.session, Role.APPROVER)
    mapped = [u for u in ctx.deps.records.approvers.get(unit, ()) if u in everyone]
    return mapped or everyone


async def _send_decision_card(
    ctx: Context, conf: Conference, unit: str, purpose: str, role: Role
) -> str | None:
    """Send the card; the roster warning (A1) it shows, or None when nobody has the role."""
    if role == Role.APPROVER:
        users = await approvers_for(ctx, unit)
    else:
        users = await userids_with_role(ctx.session, role)
    if not users:
        return None
    warning = await roster_warning(ctx, conf.unit_id, unit, conf.speakers)
    task_id = f"{purpose}-{conf.record_id}-{token_hex(4)}"
    rows = await ctx.push(
        [
            Outgoing(
                "app",
                "|".join(users),
                {
                    "touser": "|".join(users),
                    "msgtype": "template_card",
                    "template_card": _card(conf, unit, purpose, task_id, ctx, warning),
                },
            )
        ],
        source=ctx.source,
        dedupe_key=f"card:{task_id}",
    )
    ctx.session.add(
        Card(
            task_id=task_id,
            record_id=conf.record_id,
            purpose=purpose,
            state_when_sent=conf.state,
            recipients=users,
            outbox_id=rows[0].id if rows else None,
            created_at=ctx.now,
        )
    )
    return warning


async def send_review_card(ctx: Context, conf: Conference, unit: str) -> str | None:
    """R15: the news office gets a review card for a new (or amended) application; the
    card's roster warning (A1), or None when no card went out."""
    return await _send_decision_card(ctx, conf, unit, "review", Role.NEWS_OFFICE)


async def close_cards(
    ctx: Context, record_id: str, label: str, *, purpose: str | None = None
) -> None:
    """Turn every open card of the record into `label`; the clicked copy is answered
    passively, the others through update_template_card while their response code lasts."""
    for which in (purpose,) if purpose else ("review", "approve"):
        for card in await open_cards(ctx.session, record_id, which):
            card.closed, card.outcome = True, label
            ctx.session.add(card)
            code = await response_code_of(ctx.session, card.outbox_id)
            clicked = card.task_id == ctx.incoming.task_id
            others = [u for u in card.recipients if not (clicked and u == ctx.sender.userid)]
            if code and others:
                body = {
                    "userids": others,
                    "response_code": code,
                    "button": {"replace_name": label},
                }
                await ctx.push([Outgoing("card_update", "|".join(others), body)])


async def review(ctx: Context) -> Reply:
    """审核 ID 通过/驳回 (R15): the news office's review; approval card to the approver."""
    require_fields(ctx, REVIEW)
    if ctx.fields.decision is None:
        raise UsageError(
            f"请写明审核结论，例如：审核 {ctx.fields.record_id} 通过，"
            f"或：审核 {ctx.fields.record_id} 驳回 理由：……"
        )
    reason = text_value(ctx, "理由")
    passed = ctx.fields.decision == "通过"
    if not passed and not reason:
        raise UsageError(
            f"驳回需要写明理由，例如：审核 {ctx.fields.record_id} 驳回 "
            "理由：主题与上月发布会重复，建议合并"
        )
    conf, unit = await _load(ctx)
    old = State(conf.state)
    conf.state = _decide(ctx, conf, Action.REVIEW_PASS if passed else Action.REVIEW_REJECT, unit)
    conf.review_reason, conf.updated_at = reason, ctx.now
    ctx.session.add(conf)
    await record_audit(
        ctx,
        "review",
        conf.record_id,
        old=old,
        new=conf.state,
        detail={"decision": ctx.fields.decision, "reason": reason},
    )
    label = f"已{'通过' if passed else '驳回'}（{ctx.sender.name}）"
    await close_cards(ctx, conf.record_id, label, purpose="review")
    ctx.card_outcome = label
    if passed:
        await _send_decision_card(ctx, conf, unit, "approve", Role.APPROVER)
        await notify_users(
            ctx,
            [conf.filer],
            f"您的发布会申请 {conf.record_id}《{conf.topic}》"
            f"已通过市政府新闻办审核。{NEXT_STEP[State.REVIEWED]}。",
        )
        return Reply.ok(f"{conf.record_id} 已通过审核，已送分管副秘书长审批。")
    await notify_users(
        ctx,
        [conf.filer],
        f"您的发布会申请 {conf.record_id}《{conf.topic}》"
        f"被市政府新闻办驳回。\n理由：{reason}\n可修改后重新提交“申请发布会”。",
    )
    return Reply.ok(f"{conf.record_id} 已驳回，已告知申请人。")


async def approve(ctx: Context) -> Reply:
    """审批 ID 同意/不同意 (R15): the deputy secretary-general's decision."""
    require_fields(ctx, APPROVE)
    if ctx.fields.decision is None:
        raise UsageError(f"请写明审批结论，例如：审批 {ctx.fields.record_id} 同意")
    opinion = text_value(ctx, "意见")
    agreed = ctx.fields.decision == "同意"
    conf, unit = await _load(ctx)
    old = State(conf.state)
    conf.state = _decide(ctx, conf, Action.APPROVE if agreed else Action.DISAPPROVE, unit)
    conf.approval_opinion, conf.updated_at = opinion, ctx.now
    ctx.session.add(conf)
    await record_audit(
        ctx,
        "approve",
        conf.record_id,
        old=old,
        new=conf.state,
        detail={"decision": ctx.fields.decision, "opinion": opinion},
    )
    label = f"已{'同意' if agreed else '不同意'}（{ctx.sender.name}）"
    await close_cards(ctx, conf.record_id, label, purpose="approve")
    ctx.card_outcome = label
    note = f"\n意见：{opinion}" if opinion else ""
    verdict = "已获批准" if agreed else "未获批准"
    await notify_users(
        ctx,
        [conf.filer],
        f"您的发布会申请 {conf.record_id}《{conf.topic}》{verdict}。{note}"
        + (f"\n{NEXT_STEP[State.APPROVED]}。" if agreed else ""),
    )
    await notify_role(
        ctx,
        Role.NEWS_OFFICE,
        f"{conf.record_id}《{conf.topic}》（{unit}）{verdict}。{note}"
        + (f"\n请排期：排期 {conf.record_id} 时间：… 地点：…" if agreed else ""),
    )
    return Reply.ok(f"{conf.record_id} {verdict}，已告知申请单位和市政府新闻办。")


async def card_command(ctx: Context) -> tuple[str | None, str, str]:
    """The text command a card click stands for; for a stale card (None, why, label)."""
    card = await card_by_task(ctx.session, ctx.incoming.task_id or "")
    parts = (ctx.incoming.event_key or "").split("|")
    if card is None or len(parts) != 3 or parts[1] != card.record_id:
        return None, "这张卡片已失效，请以最新消息为准。", "已失效"
    if card.closed:
        return None, f"{card.record_id} 已处理，{card.outcome}，无需再操作。", card.outcome
    return f"{parts[0]} {parts[1]} {parts[2]}", "", ""
