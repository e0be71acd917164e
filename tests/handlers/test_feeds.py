"""Previews and calendars (issue 5, R6, R21): the conference calendar, the release feed and
the public spokesperson directory, over HTTP with the demo roster; and the pure renderers."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from liuan_bot.clock import SHANGHAI
from liuan_bot.feeds import (
    ConferenceItem,
    DirectoryUnit,
    Spokesperson,
    directory_order,
    ics_escape,
    ics_fold,
    render_atom,
    render_calendar,
    render_directory_html,
    summary_of,
)
from storage.engine import transaction
from storage.tables import Conference, Person, Unit
from tests.support import DEMO_ROSTER, Harness

ATOM = "{http://www.w3.org/2005/Atom}"
APPLY = (
    "申请发布会\n主题：2026年秋粮收购政策解读\n时间：12月3日上午10点\n"
    "发布人：郑学军、鲍克勤\n地点：市政府新闻发布厅"
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def ok(h: Harness, user: str, text: str) -> str:
    status, reply = await h.send_text(user, text)
    assert status == 200
    assert reply is not None
    return reply


def record_id(reply: str) -> str:
    found = re.search(r"(SQ|BA)-\d{4}-\d{4}", reply)
    assert found, reply
    return found.group(0)


async def add_conference(h: Harness, unit: str, **fields: Any) -> None:
    """Insert a conference row directly (created and updated at the harness's now)."""
    now = h.clock.now()
    async with transaction(h.bot.deps.sessions) as session:
        unit_row = (await session.exec(select(Unit).where(col(Unit.name) == unit))).one()
        assert unit_row.id is not None
        values: dict[str, Any] = {
            "kind": "filing",
            "filer": "demo",
            "venue": "",
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        session.add(Conference(unit_id=unit_row.id, **values))


async def get(h: Harness, path: str, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    """Status, headers (case-insensitive) and body of a GET."""
    resp = await h.client.get(path, headers=headers)
    return resp.status, resp.headers, await resp.read()


# ---------------------------------------------------------------- iCalendar


def unfold(raw: bytes) -> list[str]:
    """Check the physical lines (CRLF, ≤ 75 octets, each valid UTF-8) and unfold them."""
    assert raw.endswith(b"\r\n")
    physical = raw[:-2].split(b"\r\n")
    for line in physical:
        assert b"\n" not in line
        assert b"\r" not in line
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding never splits a character
    text = raw.decode("utf-8").replace("\r\n ", "")
    return text[:-2].split("\r\n")


def unescape(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars)
            out.append("\n" if nxt in "nN" else nxt)
        else:
            assert char not in ",;", value  # unescaped separators are not allowed in TEXT
            out.append(char)
    return "".join(out)


def events_of(lines: list[str]) -> dict[str, dict[str, str]]:
    events: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            assert current is not None
            events[current["UID"]] = current
            current = None
        elif current is not None:
            name, _, value = line.partition(":")
            current[name] = value
    return events


async def test_r21_the_calendar_lists_scheduled_filed_and_held_conferences_in_utc(
    harness: Harness,
) -> None:
    h = harness
    # a city-government conference through the whole R15 chain, scheduled for 12月3日 10:00
    rid = record_id(await ok(h, "demo", APPLY))
    await ok(h, "newsoffice", f"审核 {rid} 通过")
    await ok(h, "approver", f"审批 {rid} 同意")
    await ok(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    # a self-held one filed by text and later withdrawn: on the calendar as cancelled (B1)
    withdrawn = record_id(
        await ok(
            h,
            "demo",
            "备案\n主题：撤回的发布会\n时间：12月8日下午3点\n地点：市财政局三楼会议室\n"
            "发布人：鲍克勤",
        )
    )
    await ok(h, "demo", f"撤回 {withdrawn}")
    long_points = "本次发布会介绍了全市教育事业发展情况，包括学前教育、义务教育、职业教育；" * 6
    await add_conference(
        h,
        "市教育局",
        record_id="BA-2026-0100",
        state="held",
        topic="教育发展, 成就; 与展望\\2026",
        starts_at=at("2026-11-20T15:00+08:00"),
        held_at=at("2026-11-20T17:10+08:00"),
        venue="市教育局,三楼;会议室",
        speakers=["徐启航"],
        held_speakers=["徐启航", "韩超"],
        key_points=long_points + "\n第二段。",
        transcript_url="https://www.luan.gov.cn/xwfb/100.html",
        video_url="https://v.luan.gov.cn/100",
    )
    await add_conference(
        h,
        "市公安局",
        record_id="BA-2026-0101",
        state="filed",
        topic="冬季交通安全",
        starts_at=at("2026-12-10T09:30+08:00"),
        venue="市公安局新闻发布室",
        speakers=["韩磊"],
    )
    for rid_, state in (("SQ-2026-0090", "rejected"), ("SQ-2026-0091", "declined")):
        await add_conference(
            h,
            "市民政局",
            record_id=rid_,
            kind="application",
            state=state,
            topic="不应出现",
            starts_at=at("2026-12-12T09:30+08:00"),
        )
    await add_conference(  # held more than twelve months ago: out of the window
        h,
        "市民政局",
        record_id="BA-2025-0001",
        state="held",
        topic="很早以前",
        starts_at=at("2025-10-01T09:30+08:00"),
        held_at=at("2025-10-01T11:30+08:00"),
    )
    await add_conference(  # filed without a time: nothing to put on a calendar
        h, "市民政局", record_id="BA-2026-0102", state="filed", topic="没有时间"
    )

    status, headers, raw = await get(h, "/feeds/conferences.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=300"
    lines = unfold(raw)
    assert lines[0] == "BEGIN:VCALENDAR"
    assert lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert "X-WR-CALNAME:六安市政府新闻发布会" in lines
    events = events_of(lines)
    assert set(events) == {
        f"{rid}@liuan-bot",
        "BA-2026-0100@liuan-bot",
        "BA-2026-0101@liuan-bot",
        f"{withdrawn}@liuan-bot",
    }
    assert "不应出现" not in raw.decode("utf-8")
    cancelled = events[f"{withdrawn}@liuan-bot"]
    assert cancelled["STATUS"] == "CANCELLED"  # issue 9 B1: not dropped
    assert unescape(cancelled["SUMMARY"]).startswith("【已取消】《撤回的发布会》")
    assert int(cancelled["SEQUENCE"]) > 0  # a change clients must apply

    scheduled = events[f"{rid}@liuan-bot"]
    assert scheduled["DTSTART"] == "20261203T020000Z"
    assert scheduled["DTEND"] == "20261203T040000Z"
    assert scheduled["DTSTAMP"] == "20261126T020000Z"
    assert unescape(scheduled["SUMMARY"]) == "《2026年秋粮收购政策解读》（市财政局）"
    assert unescape(scheduled["LOCATION"]) == "市政府新闻发布厅"
    assert "发布人：郑学军、鲍克勤" in unescape(scheduled["DESCRIPTION"])
    assert scheduled["STATUS"] == "CONFIRMED"

    held = events["BA-2026-0100@liuan-bot"]
    assert held["DTSTART"] == "20261120T070000Z"
    assert held["DTEND"] == "20261120T090000Z"
    assert held["SUMMARY"] == "《教育发展\\, 成就\\; 与展望\\\\2026》（市教育局）"
    assert unescape(held["SUMMARY"]) == "《教育发展, 成就; 与展望\\2026》（市教育局）"
    assert unescape(held["LOCATION"]) == "市教育局,三楼;会议室"
    description = unescape(held["DESCRIPTION"])
    assert "发布人：徐启航、韩超" in description
    assert f"要点：{long_points}\n第二段。" in description
    assert "文字实录：https://www.luan.gov.cn/xwfb/100.html" in description
    assert "视频：https://v.luan.gov.cn/100" in description
    assert held["STATUS"] == "CONFIRMED"

    filed = events["BA-2026-0101@liuan-bot"]
    assert filed["DTSTART"] == "20261210T013000Z"
    assert "要点" not in unescape(filed["DESCRIPTION"])
    # in start order
    uids = [line.removeprefix("UID:") for line in lines if line.startswith("UID:")]
    assert uids == [
        "BA-2026-0100@liuan-bot",
        f"{rid}@liuan-bot",
        f"{withdrawn}@liuan-bot",
        "BA-2026-0101@liuan-bot",
    ]


async def test_r21_the_calendar_is_cacheable_and_answers_304_when_unchanged(
    harness: Harness,
) -> None:
    h = harness
    status, headers, first = await get(h, "/feeds/conferences.ics")
    assert status == 200
    etag = headers["ETag"]
    status, headers, body = await get(h, "/feeds/conferences.ics", **{"If-None-Match": etag})
    assert status == 304
    assert body == b""
    assert headers["ETag"] == etag
    assert headers["Cache-Control"] == "public, max-age=300"
    status, _, again = await get(h, "/feeds/conferences.ics", **{"If-None-Match": '"other"'})
    assert (status, again) == (200, first)

    await add_conference(
        h,
        "市公安局",
        record_id="BA-2026-0101",
        state="filed",
        topic="冬季交通安全",
        starts_at=at("2026-12-10T09:30+08:00"),
    )
    status, headers, changed = await get(h, "/feeds/conferences.ics", **{"If-None-Match": etag})
    assert status == 200
    assert headers["ETag"] != etag
    assert "冬季交通安全" in changed.decode("utf-8")


# ---------------------------------------------------------------- Atom


async def test_r21_the_release_feed_is_empty_atom_with_a_fixed_updated(harness: Harness) -> None:
    status, headers, raw = await get(harness, "/feeds/releases.atom")
    assert status == 200
    assert headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(raw)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "六安市政务新闻发布"
    assert feed.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00Z"
    assert feed.findall(f"{ATOM}entry") == []


async def test_r21_the_release_feed_lists_held_conferences_newest_first(
    harness: Harness,
) -> None:
    h = harness
    rid = record_id(await ok(h, "demo", APPLY))
    await ok(h, "newsoffice", f"审核 {rid} 通过")
    await ok(h, "approver", f"审批 {rid} 同意")
    await ok(h, "newsoffice", f"排期 {rid} 时间：12月3日上午10点 地点：市政府新闻发布厅")
    h.clock.advance(days=7)  # 12月3日 10:00
    await ok(
        h,
        "demo",
        f"已召开 {rid} 发布人：郑学军、鲍克勤 要点：介绍收购价格<和>补贴 "
        "实录：https://www.luan.gov.cn/xwfb/1.html",
    )
    points = "第一句说明了总体情况。" + "这是一段很长的发布要点，" * 30 + "结束。"
    await add_conference(
        h,
        "市教育局",
        record_id="BA-2026-0100",
        state="held",
        topic="教育 & 未来",
        starts_at=at("2026-11-20T15:00+08:00"),
        held_at=at("2026-11-20T17:10+08:00"),
        key_points=points,
        video_url="https://v.luan.gov.cn/100?a=1&b=2",
    )
    await add_conference(
        h,
        "市公安局",
        record_id="BA-2026-0101",
        state="filed",
        topic="尚未召开",
        starts_at=at("2026-12-10T09:30+08:00"),
    )

    status, _, raw = await get(h, "/feeds/releases.atom")
    assert status == 200
    feed = ET.fromstring(raw)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"urn:liuan-bot:release:{rid}",
        "urn:liuan-bot:release:BA-2026-0100",
    ]
    assert feed.findtext(f"{ATOM}updated") == "2026-12-03T02:00:00Z"
    newest, older = entries
    assert newest.findtext(f"{ATOM}title") == "《2026年秋粮收购政策解读》"
    assert newest.findtext(f"{ATOM}updated") == "2026-12-03T02:00:00Z"
    assert newest.findtext(f"{ATOM}author/{ATOM}name") == "市财政局"
    assert newest.findtext(f"{ATOM}summary") == "介绍收购价格<和>补贴"
    [link] = newest.findall(f"{ATOM}link")
    assert link.attrib == {
        "rel": "related",
        "href": "https://www.luan.gov.cn/xwfb/1.html",
        "title": "文字实录",
    }
    assert older.findtext(f"{ATOM}title") == "《教育 & 未来》"
    assert "时间：2026年11月20日 15:00" in (older.findtext(f"{ATOM}content") or "")
    assert older.findtext(f"{ATOM}updated") == "2026-11-20T09:10:00Z"
    assert older.findtext(f"{ATOM}author/{ATOM}name") == "市教育局"
    summary = older.findtext(f"{ATOM}summary") or ""
    assert len(summary) <= 200
    assert summary.endswith("要点…")  # cut at a clause break: no sentence end late enough
    assert points.startswith(summary[:-1])
    [video] = older.findall(f"{ATOM}link")
    assert video.attrib["href"] == "https://v.luan.gov.cn/100?a=1&b=2"
    assert video.attrib["rel"] == "related"
    assert "尚未召开" not in raw.decode("utf-8")


async def test_r21_the_release_feed_keeps_the_newest_fifty(harness: Harness) -> None:
    h = harness
    start = at("2026-06-01T10:00+08:00")
    for n in range(55):
        await add_conference(
            h,
            "市统计局",
            record_id=f"BA-2026-{n + 1:04d}",
            state="held",
            topic=f"统计发布{n + 1}",
            starts_at=start + timedelta(days=n),
            held_at=start + timedelta(days=n, hours=2),
        )
    _, _, raw = await get(h, "/feeds/releases.atom")
    ids = [e.findtext(f"{ATOM}id") for e in ET.fromstring(raw).findall(f"{ATOM}entry")]
    assert len(ids) == 50
    assert ids[0] == "urn:liuan-bot:release:BA-2026-0055"
    assert ids[-1] == "urn:liuan-bot:release:BA-2026-0006"


# ---------------------------------------------------------------- directory (R6)


def roster_rows() -> list[dict[str, str]]:
    with DEMO_ROSTER.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


async def test_r6_the_directory_lists_only_public_spokespersons_with_office_phones(
    harness: Harness,
) -> None:
    h = harness
    async with transaction(h.bot.deps.sessions) as session:
        finance = (await session.exec(select(Unit).where(col(Unit.name) == "市财政局"))).one()
        finance.office_phone = "0564-3370001"
        session.add(finance)
        jinan = (await session.exec(select(Unit).where(col(Unit.name) == "金安区"))).one()
        jinan.office_phone = "0564-3911234"
        session.add(jinan)
        for userid, change in (("liulei", "private"), ("hanlei", "inactive")):
            person = (await session.exec(select(Person).where(col(Person.userid) == userid))).one()
            if change == "private":
                person.public = False
            else:
                person.active = False
            session.add(person)

    status, headers, raw_json = await get(h, "/directory.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=300"
    document = json.loads(raw_json)
    assert datetime.fromisoformat(document["updated"]).tzinfo is not None
    units = {u["unit"]: u for u in document["units"]}

    expected = {
        (row["单位"], row["姓名"])
        for row in roster_rows()
        if "新闻发言人" in row["角色"].split(";")
        and row["公开"] == "是"
        and row["企业微信账号"] not in ("liulei", "hanlei")
    }
    listed = {(u["unit"], p["name"]) for u in document["units"] for p in u["spokespersons"]}
    assert listed == expected
    assert "市政府新闻办" not in units  # 曹志强 is public, but not a spokesperson
    assert units["市财政局"] == {
        "unit": "市财政局",
        "unit_type": "市直部门",
        "office_phone": "0564-3370001",
        "spokespersons": [
            {"name": "鲍克勤", "title": "党组成员、副局长"},
            {"name": "张演示", "title": "办公室主任"},
        ],
    }
    assert units["金安区"]["office_phone"] == "0564-3911234"
    assert units["市教育局"]["office_phone"] is None
    assert [p["name"] for p in units["市发展改革委"]["spokespersons"]] == ["许云"]
    assert [p["name"] for p in units["市公安局"]["spokespersons"]] == ["吴寿山"]

    rank = {"市直部门": 0, "县区": 1, "开发区": 2}
    lines = DEMO_ROSTER.read_text(encoding="utf-8").splitlines()
    roster = list(dict.fromkeys(line.split(",")[0] for line in lines))
    order = [(rank.get(u["unit_type"], 3), roster.index(u["unit"])) for u in document["units"]]
    assert order == sorted(order)  # by kind of unit, then the roster's official order (E7)
    assert [u["unit_type"] for u in document["units"]][-2:] == ["开发区", "开发区"]

    status, headers, raw_html = await get(h, "/directory")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = raw_html.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in page
    assert "新闻发言人名录" in page
    assert "0564-3370001" in page
    assert "<td>张演示</td><td>办公室主任</td>" in page
    assert "刘磊" not in page
    assert "韩磊" not in page
    assert "曹志强" not in page
    assert "http://" not in page
    assert "https://" not in page  # no external assets
    assert page.index("市财政局") < page.index("金安区") < page.index("六安经济技术开发区")

    # R6: never a mobile number or a WeCom account, in either form
    for raw in (raw_json, raw_html):
        text = raw.decode("utf-8")
        for row in roster_rows():
            assert row["手机"] not in text, row["姓名"]
            assert not re.search(rf"\b{re.escape(row['企业微信账号'])}\b", text), row["姓名"]


async def test_r6_the_directory_answers_304_to_a_matching_etag(harness: Harness) -> None:
    h = harness
    for path in ("/directory", "/directory.json"):
        status, headers, _ = await get(h, path)
        assert status == 200
        etag = headers["ETag"]
        status, headers, body = await get(h, path, **{"If-None-Match": f"W/{etag}"})
        assert (status, body) == (304, b"")
        assert headers["Cache-Control"] == "public, max-age=300"


# ---------------------------------------------------------------- pure renderers


def item(**fields: Any) -> ConferenceItem:
    values: dict[str, Any] = {
        "record_id": "SQ-2026-0001",
        "topic": "主题",
        "unit": "市财政局",
        "starts_at": at("2026-12-03T10:00+08:00"),
        "venue": "市政府新闻发布厅",
        "speakers": ("郑学军",),
        "updated_at": at("2026-11-26T10:00+08:00"),
        **fields,
    }
    return ConferenceItem(**values)


def test_ics_escape_handles_backslash_separators_and_newlines() -> None:
    assert ics_escape("a\\b;c,d\ne\r\nf\rg") == "a\\\\b\\;c\\,d\\ne\\nf\\ng"
    assert ics_escape("全角，标点；不转义") == "全角，标点；不转义"
    assert ics_escape("tab\tok\x00\x07") == "tab\tok"


def test_ics_fold_never_splits_a_chinese_character_and_unfolds_to_the_original() -> None:
    line = "DESCRIPTION:" + ics_escape("要点：" + "六安市政务新闻发布，" * 40 + "完。")
    parts = ics_fold(line)
    assert len(parts) > 5
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert not parts[0].startswith(" ")
    assert "".join([parts[0], *(p[1:] for p in parts[1:])]) == line
    # a short ASCII line stays whole; a 75-octet line is not folded, 76 is
    assert ics_fold("A" * 75) == ["A" * 75]
    assert ics_fold("A" * 76) == ["A" * 75, " A"]
    # 3-octet characters: 25 fill the first line exactly, then 24 per continuation line
    folded = ics_fold("汉" * 60)
    assert [len(p.encode("utf-8")) for p in folded] == [75, 73, 34]


def test_render_calendar_uses_crlf_utc_and_skips_items_without_a_time() -> None:
    text = render_calendar(
        [
            item(),
            item(record_id="BA-2026-0002", starts_at=None),
            item(
                record_id="BA-2026-0003",
                starts_at=None,
                held_at=at("2026-11-01T15:00+08:00"),
                key_points="说明",
            ),
        ]
    )
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "UID:SQ-2026-0001@liuan-bot\r\n" in text
    assert "BA-2026-0002" not in text
    assert "DTSTART:20261101T070000Z\r\n" in text  # held without a start: the held time
    assert text.index("BA-2026-0003") < text.index("SQ-2026-0001")


def test_render_calendar_drops_links_that_are_not_web_addresses() -> None:
    text = render_calendar(
        [item(held_at=at("2026-12-03T12:00+08:00"), transcript_url="javascript:alert(1)")]
    )
    assert "javascript" not in text


def test_render_atom_escapes_and_is_well_formed() -> None:
    text = render_atom(
        [
            item(
                topic="<b>&\"'",
                unit="A&B",
                held_at=at("2026-12-03T12:00+08:00"),
                key_points="a\x00b<c>",
                transcript_url='https://x.example/?q="1"&r=<2>',
            )
        ],
        self_url="https://bot.example/feeds/releases.atom",
    )
    feed = ET.fromstring(text)
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "《<b>&\"'》"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "A&B"
    assert entry.findtext(f"{ATOM}summary") == "ab<c>"
    assert entry.findtext(f"{ATOM}updated") == "2026-12-03T04:00:00Z"
    self_link = feed.find(f"{ATOM}link")
    assert self_link is not None
    assert self_link.attrib["rel"] == "self"
    # an address with quotes or angle brackets is not a plain web link: dropped
    assert entry.findall(f"{ATOM}link") == []


def test_summary_cuts_at_a_sentence_boundary() -> None:
    assert summary_of("短要点。") == "短要点。"
    text = "第一句。" * 30 + "第二段很长" * 40
    cut = summary_of(text)
    assert cut == "第一句。" * 30
    no_break = "字" * 300
    assert summary_of(no_break) == "字" * 199 + "…"
    assert len(summary_of(no_break)) == 200
    clauses = "第一句。" + "很长的分句，" * 40
    assert summary_of(clauses) == "第一句。" + "很长的分句，" * 31 + "很长的分句…"


def test_directory_order_puts_departments_then_counties_then_zones_then_others() -> None:
    person = (Spokesperson("甲", "副局长"),)
    units = [
        DirectoryUnit("其他单位", "其他", None, person),
        DirectoryUnit("开发区甲", "开发区", None, person),
        DirectoryUnit("县乙", "县区", None, person),
        DirectoryUnit("市乙局", "市直部门", None, person),
        DirectoryUnit("县甲", "县区", None, person),
        DirectoryUnit("市甲局", "市直部门", None, person),
        DirectoryUnit("无人单位", "市直部门", None, ()),
    ]
    expected = ["市乙局", "市甲局", "县乙", "县甲", "开发区甲", "其他单位"]
    assert [u.unit for u in directory_order(units)] == expected


def test_e7_directory_keeps_the_roster_order_within_a_group() -> None:
    person = (Spokesperson("甲", "副局长"),)
    units = [
        DirectoryUnit("市政府办公室", "市直部门", None, person),
        DirectoryUnit("市发展改革委", "市直部门", None, person),
        DirectoryUnit("市教育局", "市直部门", None, person),
    ]
    assert [u.unit for u in directory_order(units)] == ["市政府办公室", "市发展改革委", "市教育局"]


def test_directory_html_escapes_and_shows_an_empty_state() -> None:
    updated = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
    page = render_directory_html(
        [DirectoryUnit("<script>", "市直部门", "0564-1234", (Spokesperson("a&b", "<i>"),))],
        updated,
    )
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<td>a&amp;b</td><td>&lt;i&gt;</td>" in page
    assert '<a href="tel:05641234">0564-1234</a>' in page
    empty = render_directory_html([], datetime(1970, 1, 1, tzinfo=UTC))
    assert "暂无公开的新闻发言人信息" in empty


async def test_b3_the_roster_csv_carries_the_units_news_release_phone_to_the_directory(
    harness: Harness,
) -> None:
    """Issue 9 B3 (R6): an optional last column 新闻发布联系电话, one number per unit."""
    from liuan_bot.domain.roster import OFFICE_PHONE_COLUMN, parse_roster_csv
    from storage.roster_store import import_roster

    h = harness
    lines = DEMO_ROSTER.read_text(encoding="utf-8").splitlines()
    rows = [f"{lines[0]},{OFFICE_PHONE_COLUMN}"]
    for line in lines[1:]:
        unit = line.split(",")[0]
        rows.append(line + (",0564-3370001" if unit == "市财政局" else ","))
    parsed = parse_roster_csv("\n".join(rows).encode())
    assert parsed.errors == ()
    async with transaction(h.bot.deps.sessions) as session:
        await import_roster(session, parsed.rows, h.clock.now())
    _, _, raw = await get(h, "/directory.json")
    units = {u["unit"]: u for u in json.loads(raw)["units"]}
    assert units["市财政局"]["office_phone"] == "0564-3370001"
    _, _, page = await get(h, "/directory")
    assert '<a href="tel:05643370001">0564-3370001</a>' in page.decode()


def test_b3_a_wrong_or_conflicting_office_phone_is_reported_with_its_row() -> None:
    from liuan_bot.domain.roster import OFFICE_PHONE_COLUMN, ROSTER_HEADER, parse_roster_csv

    header = ",".join((*ROSTER_HEADER, OFFICE_PHONE_COLUMN))
    data = "\n".join(
        [
            header,
            "市财政局,市直部门,是,张三,zhangsan,新闻发言人,副局长,,是,0564-3370001",
            "市财政局,市直部门,是,李四,lisi,联络员,科长,,否,0564-3370002",
            "市教育局,市直部门,是,王五,wangwu,新闻发言人,副局长,,是,办公室",
        ]
    ).encode()
    parsed = parse_roster_csv(data)
    messages = {p.line: p.message for p in parsed.errors}
    assert "与第2行的“0564-3370001”不一致" in messages[3]
    assert "新闻发布联系电话“办公室”不正确" in messages[4]
    nine = parse_roster_csv(
        (
            ",".join(ROSTER_HEADER)
            + "\n"
            + "市财政局,市直部门,是,张三,zhangsan,新闻发言人,副局长,,是"
        ).encode()
    )
    assert nine.errors == ()  # the column stays optional
