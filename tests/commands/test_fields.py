"""The grammar's refusals (issue 9 E2, E5): the sender's own message comes back corrected, and
the rules the handlers used to check only when running (a decision word, a reason for 驳回)
are declared in the grammar, so `parse` and the handler report the same."""

from __future__ import annotations

from datetime import datetime

from handlers.conferences import APPLY
from handlers.decisions import APPROVE, REVIEW
from liuan_bot.clock import SHANGHAI
from liuan_bot.commands.fields import parse_fields, retry_message

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


def test_e2_the_retry_is_the_senders_message_with_the_field_to_fix() -> None:
    text = "主题：冬季供暖保障 时间：2026年11月20日上午10点 地 点：市政府新闻发布厅"
    parsed = parse_fields(text, APPLY, NOW)
    assert parsed.missing == ["发布人"]
    assert parsed.invalid == ["时间"]
    assert retry_message("申请发布会", APPLY, parsed, NOW) == (
        "申请发布会\n"
        "主题：冬季供暖保障\n"
        "时间：（请改正：2026年11月20日上午10点）\n"
        "发布人：（请填写，例如 王建国、李明）\n"
        "地点：市政府新闻发布厅"
    )


def test_e2_valid_values_come_back_in_their_canonical_form() -> None:
    parsed = parse_fields("主题：冬季供暖 时间：12月3日14:30-16:00 直播：要", APPLY, NOW)
    retry = retry_message("申请发布会", APPLY, parsed, NOW)
    assert "时间：12月3日（周四）14:30-16:00" in retry
    assert "直播：是" in retry
    assert "秋粮" not in retry  # no stock example about another matter


def test_e5_a_review_needs_a_decision_and_a_rejection_a_reason() -> None:
    assert parse_fields("SQ12", REVIEW, NOW).errors == ["请写明审核结论：“通过”或“驳回”"]
    assert parse_fields("SQ12 退回", REVIEW, NOW).errors == ["驳回需要写明理由"]
    assert parse_fields("SQ12 不同意", REVIEW, NOW).needed == ["理由"]
    assert parse_fields("SQ12 通过", REVIEW, NOW).errors == []
    assert parse_fields("SQ12", APPROVE, NOW).errors == ["请写明审批结论：“同意”或“不同意”"]
    assert parse_fields("SQ12 不同意", APPROVE, NOW).errors == []


def test_e5_the_retry_of_a_rejection_asks_for_the_reason() -> None:
    parsed = parse_fields("SQ12 退回", REVIEW, NOW)
    assert retry_message("审核", REVIEW, parsed, NOW) == (
        "审核 SQ-2026-0012 驳回\n理由：（请填写，例如 主题与上月发布会重复，建议合并）"
    )


def test_e6_a_reason_as_a_sentence_goes_to_the_free_field() -> None:
    parsed = parse_fields("SQ12 因为主题重复，不同意", REVIEW, NOW)
    assert parsed.decision == "驳回"
    assert parsed.values == {"理由": "因为主题重复"}
    assert parsed.errors == []
