"""Times typed in commands: a corpus of phrases with expected results, free-text search,
formatting, and properties over random times.

Expected values in the corpus: "2026-12-03T10:00" exact minute, "~2026-12-03T09:00" not exact
(only a day or a part of day was given), "!substring" a TimeParseError whose message holds it.
Grow the corpus whenever a user's message is misunderstood.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liuan_bot.clock import SHANGHAI
from liuan_bot.commands.timeparse import (
    ParsedTime,
    Prefer,
    TimeParseError,
    find_time,
    format_time,
    implausible,
    parse_time,
)
from liuan_bot.errors import UsageError

THU = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)  # Thursday; week Mon 11-23 … Sun 11-29
NYE = datetime(2026, 12, 31, 20, 0, tzinfo=SHANGHAI)  # Thursday evening, year rollover
SUN = datetime(2026, 11, 29, 15, 0, tzinfo=SHANGHAI)  # Sunday, last day of the week
MON = datetime(2027, 1, 4, 9, 30, tzinfo=SHANGHAI)  # Monday, just after new year

F: Prefer = "future"
P: Prefer = "past"

CORPUS: list[tuple[str, datetime, Prefer, str]] = [
    # numeric dates
    ("2026-12-03 10:00", THU, F, "2026-12-03T10:00"),
    ("2026/12/3 10:00", THU, F, "2026-12-03T10:00"),
    ("2026.12.3 10:00", THU, F, "2026-12-03T10:00"),
    ("2026-12-03 10:00:00", THU, F, "2026-12-03T10:00"),
    ("2026年12月3日10时", THU, F, "2026-12-03T10:00"),
    ("2026 年 12 月 3 日 10 时 30 分", THU, F, "2026-12-03T10:30"),
    ("2026年12月3日", THU, F, "~2026-12-03T09:00"),
    ("二〇二六年十二月三日上午十点", THU, F, "2026-12-03T10:00"),
    ("12/3 14:00", THU, F, "2026-12-03T14:00"),
    ("12-03 10:00", THU, F, "2026-12-03T10:00"),
    ("12-3下午3点", THU, F, "2026-12-03T15:00"),
    ("2-3个", THU, F, "!没看懂"),
    ("2028年2月29日", THU, F, "~2028-02-29T09:00"),
    # month-day
    ("12月3日上午10点", THU, F, "2026-12-03T10:00"),
    ("12月3日下午3点半", THU, F, "2026-12-03T15:30"),
    ("12月3号下午3点", THU, F, "2026-12-03T15:00"),
    ("12月3日上午10点", THU, P, "2025-12-03T10:00"),
    ("12月3日", THU, P, "~2025-12-03T09:00"),
    ("十二月二十日上午九点", THU, F, "2026-12-20T09:00"),
    ("１２月８日上午１０：００", THU, F, "2026-12-08T10:00"),
    ("１２月８日　上午１０：００", THU, F, "2026-12-08T10:00"),
    ("12月21日 下午 2:30", THU, F, "2026-12-21T14:30"),
    ("  12月21日下午  2:30 ", THU, F, "2026-12-21T14:30"),
    ("12月3日（周四）10:00", THU, F, "2026-12-03T10:00"),
    ("12月3日周四上午10点", THU, F, "2026-12-03T10:00"),
    ("1月5日", THU, F, "~2027-01-05T09:00"),
    ("11月26日", THU, F, "~2026-11-26T09:00"),  # today: not moved to next year
    ("11月25日", THU, F, "~2027-11-25T09:00"),
    # day of month alone
    ("3号下午两点", THU, F, "2026-12-03T14:00"),
    ("二十三号上午十点", THU, F, "2026-12-23T10:00"),
    ("28日下午", THU, F, "~2026-11-28T15:00"),
    ("3号下午两点", THU, P, "2026-11-03T14:00"),
    ("下个月3号", THU, F, "~2026-12-03T09:00"),
    ("本月30日上午9点", THU, F, "2026-11-30T09:00"),
    # relative days
    ("明天下午3点", THU, F, "2026-11-27T15:00"),
    ("明日上午9点", THU, F, "2026-11-27T09:00"),
    ("后天9:30", THU, F, "2026-11-28T09:30"),
    ("大后天", THU, F, "~2026-11-29T09:00"),
    ("今天15:00", THU, F, "2026-11-26T15:00"),
    ("今日下午", THU, F, "~2026-11-26T15:00"),
    ("明早8点", THU, F, "2026-11-27T08:00"),
    ("明晚", THU, F, "~2026-11-27T19:00"),
    ("今晚8点", THU, F, "2026-11-26T20:00"),
    ("今晚上8点", THU, F, "2026-11-26T20:00"),
    ("昨晚11点半", THU, P, "2026-11-25T23:30"),
    ("昨天下午4点", THU, P, "2026-11-25T16:00"),
    ("前天晚上8点", THU, P, "2026-11-24T20:00"),
    ("大前天", THU, P, "~2026-11-23T09:00"),
    ("今天凌晨3点", THU, P, "2026-11-26T03:00"),
    ("明天凌晨12点", THU, F, "2026-11-27T00:00"),
    ("明天0点", THU, F, "2026-11-27T00:00"),
    # weeks
    ("下周三10:00", THU, F, "2026-12-02T10:00"),
    ("下个星期三上午10点", THU, F, "2026-12-02T10:00"),
    ("本周五上午", THU, F, "~2026-11-27T09:00"),
    ("这周五下午", THU, F, "~2026-11-27T15:00"),
    ("周五下午三点", THU, F, "2026-11-27T15:00"),
    ("周五 下午 三点", THU, F, "2026-11-27T15:00"),
    ("周三三点半", THU, F, "!是指上午3:30还是下午15:30"),
    ("星期三上午10点", THU, F, "2026-12-02T10:00"),
    ("星期三上午10点", THU, P, "2026-11-25T10:00"),
    ("礼拜一", THU, F, "~2026-11-30T09:00"),
    ("礼拜天下午", THU, F, "~2026-11-29T15:00"),
    ("星期日上午10点", THU, F, "2026-11-29T10:00"),
    ("周7", THU, F, "~2026-11-29T09:00"),
    ("周四", THU, F, "~2026-11-26T09:00"),
    ("下下周一", THU, F, "~2026-12-07T09:00"),
    ("上周五", THU, P, "~2026-11-20T09:00"),
    ("上上周一", THU, P, "~2026-11-09T09:00"),
    ("下周三（12月2日）下午3点", THU, F, "2026-12-02T15:00"),
    # clock forms and parts of day
    ("两点半", THU, F, "!是指上午2:30还是下午14:30"),
    ("下午两点半", THU, F, "2026-11-26T14:30"),
    ("十点一刻", THU, F, "2026-11-26T10:15"),
    ("十点三刻", THU, F, "2026-11-26T10:45"),
    ("十点零五分", THU, F, "2026-11-26T10:05"),
    ("10点5分", THU, F, "2026-11-26T10:05"),
    ("10点30分", THU, F, "2026-11-26T10:30"),
    ("10时30分", THU, F, "2026-11-26T10:30"),
    ("10点整", THU, F, "2026-11-26T10:00"),
    ("11点钟", THU, F, "2026-11-26T11:00"),
    ("下午3点15", THU, F, "2026-11-26T15:15"),
    ("中午12点", THU, F, "2026-11-26T12:00"),
    ("中午1点", THU, F, "2026-11-26T13:00"),
    ("中午十二点半", THU, F, "2026-11-26T12:30"),
    ("晚上8点", THU, F, "2026-11-26T20:00"),
    ("晚8点", THU, F, "2026-11-26T20:00"),
    ("礼拜五晚七点", THU, F, "2026-11-27T19:00"),
    ("明天早8点", THU, F, "2026-11-27T08:00"),
    ("早一点", THU, F, "!没看懂"),
    ("晚上20:00", THU, F, "2026-11-26T20:00"),
    ("下午15:00", THU, F, "2026-11-26T15:00"),
    ("午后3点", THU, F, "2026-11-26T15:00"),
    ("傍晚6点", THU, F, "2026-11-26T18:00"),
    ("傍晚", THU, F, "~2026-11-26T18:00"),
    ("上午", THU, F, "~2026-11-26T09:00"),
    ("清晨6点", THU, P, "2026-11-26T06:00"),
    ("15:00", THU, F, "2026-11-26T15:00"),
    ("03:00", THU, P, "2026-11-26T03:00"),
    ("明天03:00", THU, F, "2026-11-27T03:00"),
    ("7点", THU, P, "2026-11-26T07:00"),
    ("现在", THU, F, "2026-11-26T10:00"),
    ("刚才", THU, P, "2026-11-26T10:00"),
    ("刚刚", THU, F, "2026-11-26T10:00"),
    # relative past (an incident's 发生时间)
    ("1小时前", THU, P, "2026-11-26T09:00"),
    ("两个小时前", THU, P, "2026-11-26T08:00"),
    ("半小时前", THU, P, "2026-11-26T09:30"),
    ("半个钟头以前", THU, P, "2026-11-26T09:30"),
    ("30分钟前", THU, P, "2026-11-26T09:30"),
    ("十分钟之前", THU, P, "2026-11-26T09:50"),
    ("12小时前", THU, P, "2026-11-25T22:00"),
    ("1小时前", THU, F, "!这个时间已经过去了：11月26日（周四）09:00"),
    ("1小时后", THU, P, "!没看懂"),
    # ranges: the start
    ("上午10:00-11:30", THU, F, "2026-11-26T10:00"),
    ("10点到11点半", THU, F, "2026-11-26T10:00"),
    ("10:00~11:30", THU, F, "2026-11-26T10:00"),
    ("１０：００～１１：３０", THU, F, "2026-11-26T10:00"),
    ("10:00 — 11:30", THU, F, "2026-11-26T10:00"),
    ("明天上午10点至下午2点", THU, F, "2026-11-27T10:00"),
    # punctuation, quotes
    ("明天下午3点。", THU, F, "2026-11-27T15:00"),
    ("“明天下午3点”！", THU, F, "2026-11-27T15:00"),
    # ambiguous hours
    ("下周三3点", THU, F, "!“下周三3点”是指上午3:00还是下午15:00？请写明“上午”或“下午”"),
    ("下周三3点", THU, F, "!例如：下周三下午3点"),
    ("3:00", THU, F, "!是指上午3:00还是下午15:00"),
    ("12月3日5点", THU, F, "!例如：12月3日下午5点"),
    ("晚上12点", THU, F, "!容易误会"),
    ("夜里2点", THU, F, "!凌晨2点"),
    ("今晚晚上8点", THU, F, "!时段重复"),
    # contradictions and invalid dates or times
    ("上午15点", THU, F, "!前后矛盾"),
    ("凌晨9点", THU, F, "!前后矛盾"),
    ("2月30日", THU, F, "!2月没有30日"),
    ("13月1日", THU, F, "!没有13月"),
    ("12月32日", THU, F, "!12月没有32日"),
    ("2027年2月29日", THU, F, "!2027年不是闰年"),
    ("2月29日", THU, F, "!2027年不是闰年"),
    ("31号", THU, F, "!11月没有31日"),
    ("25点", THU, F, "!一天只有0到23点"),
    ("10点60分", THU, F, "!0到59分"),
    ("12月3日（周五）10:00", THU, F, "!12月3日是周四，不是周五"),
    ("下周三（12月3日）", THU, F, "!下周三是12月2日，不是12月3日"),
    # past refused for meetings, future refused for incidents
    ("2026-11-25 10:00", THU, F, "!这个时间已经过去了：11月25日（周三）10:00"),
    ("今天9:00", THU, F, "!这个时间已经过去了"),
    ("11月26日9点", THU, F, "!这个时间已经过去了"),
    ("周四上午9点", THU, F, "!这个时间已经过去了"),
    ("昨晚11点半", THU, F, "!这个时间已经过去了"),
    ("凌晨3点", THU, F, "!这个时间已经过去了"),
    ("今天10:00", THU, F, "2026-11-26T10:00"),
    ("今天15:00", THU, P, "!这个时间还没到：11月26日（周四）15:00"),
    ("明天", THU, P, "!这个时间还没到"),
    ("下午", THU, P, "!这个时间还没到"),
    ("今天10:05", THU, P, "2026-11-26T10:05"),
    ("今天10:06", THU, P, "!这个时间还没到"),
    # not understood
    ("十点五", THU, F, "!没看懂时间“十点五”"),
    ("开会", THU, F, "!请按“12月3日上午10点”"),
    ("明天上午下午", THU, F, "!没看懂"),
    ("下周", THU, F, "!没看懂"),
    ("", THU, F, "!没有写时间"),
    # year rollover: New Year's Eve 20:00
    ("1月5日", NYE, F, "~2027-01-05T09:00"),
    ("明天上午10点", NYE, F, "2027-01-01T10:00"),
    ("后天", NYE, F, "~2027-01-02T09:00"),
    ("5号", NYE, F, "~2027-01-05T09:00"),
    ("下周一", NYE, F, "~2027-01-04T09:00"),
    ("12月30日", NYE, F, "~2027-12-30T09:00"),
    ("12月31日上午", NYE, F, "!这个时间已经过去了"),
    ("12月31日晚上9点", NYE, F, "2026-12-31T21:00"),
    ("今晚", NYE, F, "~2026-12-31T19:00"),
    ("2026年12月31日 20:00", NYE, F, "2026-12-31T20:00"),
    ("1月1日", NYE, P, "~2026-01-01T09:00"),
    ("2027年1月1日", NYE, P, "!这个时间还没到：2027年1月1日（周五）"),
    # a Sunday afternoon
    ("周日", SUN, F, "~2026-11-29T09:00"),
    ("周日上午", SUN, F, "!这个时间已经过去了"),
    ("周一", SUN, F, "~2026-11-30T09:00"),
    ("本周一", SUN, F, "!这个时间已经过去了"),
    ("本周一", SUN, P, "~2026-11-23T09:00"),
    ("下周日", SUN, F, "~2026-12-06T09:00"),
    ("周六", SUN, P, "~2026-11-28T09:00"),
    ("周六", SUN, F, "~2026-12-05T09:00"),
    ("这个星期天晚上8点", SUN, F, "2026-11-29T20:00"),
    ("明天", SUN, F, "~2026-11-30T09:00"),
    # a Monday morning after new year: rollover backwards for incidents
    ("12月30日", MON, P, "~2026-12-30T09:00"),
    ("30号", MON, P, "~2026-12-30T09:00"),
    ("上周五", MON, P, "~2027-01-01T09:00"),
    ("上周日", MON, P, "~2027-01-03T09:00"),
    ("周日", MON, P, "~2027-01-03T09:00"),
    ("周一", MON, F, "~2027-01-04T09:00"),
    ("周一9点", MON, F, "!这个时间已经过去了"),
    ("昨天下午3点", MON, P, "2027-01-03T15:00"),
    ("12月31日晚上11点", MON, P, "2026-12-31T23:00"),
    ("2026-12-28 10:00", MON, F, "!这个时间已经过去了：2026年12月28日（周一）10:00"),
]


def check(result: ParsedTime | None, expected: str, now: datetime) -> None:
    assert result is not None
    exact = not expected.startswith("~")
    iso = expected.lstrip("~")
    assert result.at.tzinfo is now.tzinfo
    assert result.at == datetime.fromisoformat(iso).replace(tzinfo=now.tzinfo), result
    assert result.exact is exact, result


@pytest.mark.parametrize(("phrase", "now", "prefer", "expected"), CORPUS)
def test_corpus(phrase: str, now: datetime, prefer: Prefer, expected: str) -> None:
    if expected.startswith("!"):
        with pytest.raises(TimeParseError) as caught:
            parse_time(phrase, now, prefer=prefer)
        assert expected.lstrip("!") in caught.value.message
    else:
        check(parse_time(phrase, now, prefer=prefer), expected, now)


def test_the_corpus_is_large_and_covers_every_now() -> None:
    assert len(CORPUS) >= 80
    assert {now for _, now, _, _ in CORPUS} == {THU, NYE, SUN, MON}


# --- find_time in free sentences ----------------------------------------------------------

FREE_TEXT: list[tuple[str, Prefer, str | None, str | None]] = [
    # (sentence, prefer, expected time, the substring it was found in)
    ("我们下周三想开个发布会讲讲秋粮收购", F, "~2026-12-02T09:00", "下周三"),
    ("明天下午三点在市政府新闻发布厅开会", F, "2026-11-27T15:00", "明天下午三点"),
    ("发布会定在12月3日（周四）上午10点，地点另行通知", F, "2026-12-03T10:00", None),
    ("１２月８日上午１０：００在３号会议室", F, "2026-12-08T10:00", "１２月８日上午１０：００"),
    ("会议时间：10:00-11:30，请准时参加", F, "2026-11-26T10:00", "10:00-11:30"),
    ("周五下午两点半在新闻发布厅", F, "2026-11-27T14:30", "周五下午两点半"),
    ("昨晚11点半XX路发生交通事故", P, "2026-11-25T23:30", "昨晚11点半"),
    ("请于30号前报送材料", F, "~2026-11-30T09:00", "30号"),
    ("现在情况如何，下周一再说", F, "~2026-11-30T09:00", "下周一"),
    ("有关情况刚才已经通报", P, "2026-11-26T10:00", "刚才"),
    ("大约半小时前XX路发生交通事故", P, "2026-11-26T09:30", "半小时前"),
    ("3号前报送", F, "~2026-12-03T09:00", "3号"),
    ("我提三点意见，明天上午再议", F, "~2026-11-27T09:00", "明天上午"),
    ("根据六宣发〔2019〕26号文件要求", F, None, None),
    ("请到3号楼会议室", F, None, None),
    ("我提三点意见", F, None, None),
    ("请快一点，晚一点也行", F, None, None),
    ("5日内完成整改", F, None, None),
    ("近7日情况平稳", F, None, None),
    ("现场来了2-3个人，预计1-2周完成", F, None, None),
    ("定于12-03 10:00召开", F, "2026-12-03T10:00", "12-03 10:00"),
    ("秋粮收购工作进展顺利，全年共举办12场", F, None, None),
    ("", F, None, None),
]


@pytest.mark.parametrize(("sentence", "prefer", "expected", "found_in"), FREE_TEXT)
def test_find_time(
    sentence: str, prefer: Prefer, expected: str | None, found_in: str | None
) -> None:
    found = find_time(sentence, THU, prefer=prefer)
    if expected is None:
        assert found is None
        return
    assert found is not None
    parsed, start, end = found
    check(parsed, expected, THU)
    if found_in is not None:
        assert sentence[start:end] == found_in


def test_find_time_span_indexes_the_original_text() -> None:
    sentence = "发布会定在12月3日（周四）上午10点，地点另行通知"
    found = find_time(sentence, THU)
    assert found is not None
    parsed, start, end = found
    assert sentence[start:end] == "12月3日（周四）上午10点"
    assert parsed.text == "12月3日(周四)上午10点"  # normalised


def test_find_time_span_survives_normalisation_that_changes_length() -> None:
    sentence = "㍿公司定于明天下午3点发布"  # ㍿ becomes 株式会社: four characters from one
    found = find_time(sentence, THU)
    assert found is not None
    _, start, end = found
    assert sentence[start:end] == "明天下午3点"


def test_find_time_raises_when_it_finds_an_unresolvable_time() -> None:
    with pytest.raises(TimeParseError, match="是指上午3:00还是下午15:00"):
        find_time("下周三3点开会", THU)
    with pytest.raises(TimeParseError, match="已经过去"):
        find_time("昨天下午开了会", THU, prefer="future")


# --- API details ----------------------------------------------------------------------------


def test_text_is_the_normalised_input() -> None:
    assert parse_time("  １２月８日上午１０：００。", THU).text == "12月8日上午10:00"


def test_the_result_is_in_nows_zone() -> None:
    now_utc = THU.astimezone(UTC)  # 02:00 UTC: still Thursday
    parsed = parse_time("明天下午3点", now_utc)
    assert parsed.at == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert parsed.at.tzinfo is UTC


def test_now_returns_now_itself() -> None:
    moment = THU + timedelta(seconds=17)
    assert parse_time("现在", moment) == ParsedTime(moment, True, "现在")


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware") as caught:
        parse_time("明天", THU.replace(tzinfo=None))
    assert caught.type is ValueError
    with pytest.raises(ValueError, match="aware"):
        find_time("明天", THU.replace(tzinfo=None))


def test_an_unknown_preference_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="prefer"):
        parse_time("明天", THU, prefer="soon")  # type: ignore[arg-type]


def test_the_error_is_a_usage_error_with_a_chinese_message() -> None:
    with pytest.raises(UsageError) as caught:
        parse_time("随便什么时候", THU)
    assert isinstance(caught.value, TimeParseError)
    assert isinstance(caught.value, ValueError)
    assert "2026-12-03 10:00" in caught.value.message
    assert str(caught.value) == caught.value.message


def test_format_time() -> None:
    assert (
        format_time(datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI), THU) == "12月3日（周四）10:00"
    )
    assert format_time(datetime(2027, 1, 5, 9, 0, tzinfo=SHANGHAI), THU) == (
        "2027年1月5日（周二）09:00"
    )
    assert format_time(datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)) == (
        "2026年12月3日（周四）10:00"
    )
    # shown in now's zone
    assert format_time(datetime(2026, 12, 3, 2, 0, tzinfo=UTC), THU) == "12月3日（周四）10:00"


# --- properties -------------------------------------------------------------------------------

# Every minute from THU up to (not including) the same month-day next year: beyond it a
# month-day without a year would mean this year's (past) day.
_MINUTES_AHEAD = int((datetime(2027, 11, 26, tzinfo=SHANGHAI) - THU).total_seconds() // 60) - 1
ahead = st.integers(min_value=0, max_value=_MINUTES_AHEAD).map(
    lambda minutes: THU + timedelta(minutes=minutes)
)
# Every minute from a year back (after last year's 11-26) up to THU.
_MINUTES_BEHIND = int((THU - datetime(2025, 11, 27, tzinfo=SHANGHAI)).total_seconds() // 60)
behind = st.integers(min_value=0, max_value=_MINUTES_BEHIND).map(
    lambda minutes: THU - timedelta(minutes=minutes)
)


def chinese(at: datetime) -> str:
    part, hour = ("上午", at.hour) if at.hour < 12 else ("下午", at.hour - 12 or 12)
    return f"{at.month}月{at.day}日{part}{hour}点{at.minute}分"


@given(ahead)
def test_numeric_dates_give_exactly_that_minute(at: datetime) -> None:
    parsed = parse_time(at.strftime("%Y-%m-%d %H:%M"), THU)
    assert (parsed.at, parsed.exact) == (at, True)


@given(ahead)
def test_chinese_dates_give_exactly_that_minute(at: datetime) -> None:
    parsed = parse_time(chinese(at), THU)
    assert (parsed.at, parsed.exact) == (at, True)


@given(behind)
def test_past_times_for_incidents(at: datetime) -> None:
    assert parse_time(chinese(at), THU, prefer="past").at == at
    assert parse_time(at.strftime("%Y/%m/%d %H:%M"), THU, prefer="past").at == at


@given(ahead)
def test_what_format_time_shows_parses_back(at: datetime) -> None:
    assert parse_time(format_time(at, THU), THU).at == at
    assert parse_time(format_time(at), THU).at == at


# --- issue 9 E4: ranges keep their end, years by name, dotted dates, implausible times -----


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("12月3日14:30-16:00", "2026-12-03T14:30", "2026-12-03T16:00"),
        ("12月3日14:30—16:00", "2026-12-03T14:30", "2026-12-03T16:00"),
        ("12月3日 14:30 ～ 16:00", "2026-12-03T14:30", "2026-12-03T16:00"),
        ("12月3日10点到11点半", "2026-12-03T10:00", "2026-12-03T11:30"),
        ("12月3日下午2点到4点", "2026-12-03T14:00", "2026-12-03T16:00"),
        ("12月3日上午10点至下午2点", "2026-12-03T10:00", "2026-12-03T14:00"),
        ("12月3日14:00-4:30", "2026-12-03T14:00", "2026-12-03T16:30"),
    ],
)
def test_e4_a_range_keeps_its_end(text: str, start: str, end: str) -> None:
    parsed = parse_time(text, THU)
    assert parsed.at == datetime.fromisoformat(start).replace(tzinfo=SHANGHAI)
    assert parsed.end == datetime.fromisoformat(end).replace(tzinfo=SHANGHAI)


def test_e4_a_single_time_has_no_end() -> None:
    assert parse_time("12月3日上午10点", THU).end is None


@pytest.mark.parametrize("text", ["12月3日10点-9点", "12月3日下午3点到2点"])
def test_e4_an_end_not_after_the_start_is_refused(text: str) -> None:
    with pytest.raises(TimeParseError, match="结束时间不晚于开始时间"):
        parse_time(text, THU)


@pytest.mark.parametrize(
    ("text", "now", "prefer", "expected"),
    [
        ("明年1月5日", THU, F, "2027-01-05T09:00"),
        ("明年1月5日上午10点", THU, F, "2027-01-05T10:00"),
        ("今年12月3日", THU, F, "2026-12-03T09:00"),
        ("去年12月3日", THU, P, "2025-12-03T09:00"),
        ("1.15", THU, F, "2027-01-15T09:00"),
        ("1.15 上午10点", THU, F, "2027-01-15T10:00"),
        ("12.3下午3点", THU, F, "2026-12-03T15:00"),
    ],
)
def test_e4_named_years_and_dotted_dates(
    text: str, now: datetime, prefer: Prefer, expected: str
) -> None:
    parsed = parse_time(text, now, prefer=prefer)
    assert parsed.at == datetime.fromisoformat(expected).replace(tzinfo=SHANGHAI)


def test_e4_a_dotted_number_in_free_text_is_no_date() -> None:
    assert find_time("增长1.15倍", THU) is None


@pytest.mark.parametrize(
    ("text", "prefer", "why"),
    [
        ("2099年12月3日上午10点", F, "离现在一年多"),
        ("11月29日 03:00", F, "是凌晨"),
        ("2020年3月1日", P, "五年多以前"),
    ],
)
def test_e4_implausible_times_are_asked_about(text: str, prefer: Prefer, why: str) -> None:
    doubt = implausible(parse_time(text, THU, prefer=prefer), THU, prefer=prefer)
    assert doubt is not None
    assert why in doubt


@pytest.mark.parametrize(
    ("text", "prefer"),
    [
        ("12月3日上午10点", F),
        ("明天凌晨1点", F),  # 凌晨 written out: meant
        ("明年3月1日上午9点", F),
        ("2025年3月1日", P),  # training two years ago
        ("今天早上8点", P),
    ],
)
def test_e4_plausible_times_are_not_questioned(text: str, prefer: Prefer) -> None:
    assert implausible(parse_time(text, THU, prefer=prefer), THU, prefer=prefer) is None
