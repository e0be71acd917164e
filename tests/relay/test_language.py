"""Issue 9 E1: no internal key or English word in what a person reads — every reminder kind,
the digest, and every relay, preview and announcement message of a whole run."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from handlers.reminders import ACCOUNTABILITY_LABELS, log_label, render, sweep
from liuan_bot.clock import SHANGHAI
from liuan_bot.domain.reminders import Reminder
from tests.support import Harness

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
LATER = NOW + timedelta(hours=5)
_URL = re.compile(r"https?://\S+|[A-Za-z0-9.-]+\.(?:cn|com)(?:/\S*)?")
_WORD = re.compile(r"[A-Za-z]{3,}")
ALLOWED: frozenset[str] = frozenset()  # record ids (SQ-2026-0001) have 2 letters: no need


def english_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(_URL.sub("", text)) if w not in ALLOWED]


def _r(kind: str, rule: str, **data: object) -> Reminder:
    return Reminder(
        rule=rule,
        subject="unit:1",
        period="2026Q4",
        step="d30",
        kind=kind,
        due_at=NOW,
        expires_at=LATER,
        recipients=("u1",),
        data=data,
    )


UNIT = {"unit": "市财政局", "period": "2026年第四季度", "deadline": LATER}
INCIDENT = {"record_id": "TF-2026-0001", "title": "化工园区火灾", "unit": "市财政局"}
POLICY = {"record_id": "ZC-2026-0001", "title": "医保新政", "unit": "市财政局"}
CONF = {"record_id": "SQ-2026-0001", "topic": "医保新政解读", "starts_at": LATER, "venue": ""}
EVERY_KIND = [
    _r("r8_due", "R8", **UNIT),
    _r("r8_due", "R8", scheduled=LATER, **UNIT),
    _r("r9_due", "R9", **UNIT),
    _r("r10_due", "R10", **UNIT),
    _r("r8_missed", "R8", period="2026年第三季度", units=("市财政局", "市教育局")),
    _r("r9_missed", "R9", period="2026年上半年", units=()),
    _r("r10_missed", "R10", period="2025年", units=("市财政局",)),
    _r("r17_first_release", "R17", deadline=LATER, **INCIDENT),
    _r("r17_due", "R17", deadline=LATER, hours_left=6, **INCIDENT),
    _r("r17_overdue", "R17", **INCIDENT),
    _r("r18_prepare", "R18", publish_at=LATER, briefing=True, **POLICY),
    _r("r18_published", "R18", **POLICY),
    _r("r18_overdue", "R18", **POLICY),
    _r("r5_due", "R5", unit="市财政局", year=2027),
    _r("r5_missing", "R5", year=2027, units=("市财政局",)),
    _r("r7_training", "R7", never=("张三",), lapsed=("李四",), soon=("王五",), window=3),
    _r("conference_eve", "CONF", **CONF),
    _r("conference_report", "CONF", **CONF),
    _r(
        "relay_unconfirmed",
        "R23",
        record_id="BA-2026-0001",
        topic="秋粮收购",
        channel="六安市广播电视台",
        sent_at=NOW,
    ),
    _r(
        "relay_digest",
        "R23",
        rows=(
            (
                "BA-2026-0001",
                "秋粮收购",
                "微博“六安市人民政府发布”",
                "published",
                "https://x.cn/1",
            ),
            ("BA-2026-0001", "秋粮收购", "六安市广播电视台", "sent", ""),
            ("BA-2026-0001", "秋粮收购", "六安新闻网专题页", "failed", ""),
            ("BA-2026-0001", "秋粮收购", "县区政府网站“新闻发布”栏目转载", "undelivered", ""),
        ),
    ),
    _r("something_new", "R99"),  # a kind without wording must not leak its key
]


@pytest.mark.parametrize("reminder", EVERY_KIND, ids=lambda r: f"{r.kind}-{r.rule}")
def test_e1_every_reminder_kind_reads_as_plain_chinese(reminder: Reminder) -> None:
    text = render(reminder, NOW)
    assert english_words(text) == [], text
    assert reminder.kind not in text
    assert not re.search(r"R\d{1,2}", text), f"rule code in a reminder: {text}"
    assert english_words(log_label(text, reminder.rule)) == []


def test_e1_accountability_labels_are_chinese() -> None:
    for label in ACCOUNTABILITY_LABELS.values():
        assert english_words(label) == []


KEY_POINTS = (
    "今年我市秋粮收购从10月1日开始，至2027年3月31日结束。中晚籼稻最低收购价为每斤1.26元，"
    "与去年持平。全市设立收购网点126个，做到应收尽收，不压级压价、不打白条。"
)


async def test_e1_a_whole_relay_run_shows_people_no_english_word(harness: Harness) -> None:
    h = harness
    replies: list[str] = []

    async def say(user: str, text: str) -> None:
        status, reply = await h.send_text(user, text)
        assert status == 200
        if reply:
            replies.append(reply)

    await say("demo", "申请发布会 主题：医保新政解读 时间：12月3日上午10点 发布人：郑学军")
    await say("newsoffice", "审核 SQ-2026-0001 通过")
    await say("approver", "审批 SQ-2026-0001 同意")
    await say("newsoffice", "排期 SQ-2026-0001 时间：12月3日上午10点 地点：市政府新闻发布厅")
    await say("newsoffice", "排期 SQ-2026-0001 时间：12月4日上午10点 地点：市政府新闻发布厅")
    await say("demo", "撤回 SQ-2026-0001 理由：会议推迟")
    await say(
        "demo",
        "备案 主题：秋粮收购政策解读 时间：今天下午2点 地点：市财政局三楼会议室 发布人：郑学军",
    )
    await h.deliver_outbox()
    h.clock.advance(hours=4, minutes=30)
    h.fake.fail_next(60020, path="/cgi-bin/message/send", errmsg="not allow to access")
    await say("demo", f"已召开 BA-2026-0001 发布人：郑学军 要点：{KEY_POINTS}")
    await h.deliver_outbox()
    await say("zhushoucheng", "已发布 BA-2026-0001 渠道：皖西日报 链接：https://www.wxrb.com/1")
    await say("daijing", "已发布 BA-2026-0001 渠道：微博 结果：失败 原因：账号维护")
    await say("newsoffice", "发布情况 BA-2026-0001")
    await say("newsoffice", "公告 对象：联络员 内容：请报送计划。 回执：是")
    await say("newsoffice", "补发 GG-2026-0001")
    await say("newsoffice", "回执 GG-2026-0001")
    engine = h.bot.reminders
    assert engine is not None
    for hours in (3, 24):
        h.clock.advance(hours=hours)
        await sweep(engine, h.clock.now())
        await h.deliver_outbox()
    read = [d.text for d in h.fake.delivered if d.kind == "app"] + replies
    assert len(read) > 20
    leaks = {text: english_words(text) for text in read if english_words(text)}
    assert leaks == {}
    spokesperson = [d.text for d in h.fake.delivered if d.to == "demo"] + replies
    coded = [t for t in spokesperson if re.search(r"R\d{1,2}(?!\d)", _URL.sub("", t))]
    assert not [t for t in coded if "计入：" not in t], coded  # 已召开 counts: records
