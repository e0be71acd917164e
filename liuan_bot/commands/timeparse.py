"""Parse the times spokespersons type in commands (meeting, publication and incident times).

Standard library only: one precompiled regular expression and a little arithmetic, a few
microseconds per phrase. No general-purpose library is exact enough for these phrases (see
docs/chinese-time-parsing.md).

API
    parse_time(text, now, prefer=)  the whole text is one time expression → ParsedTime
    find_time(text, now, prefer=)   the first time expression inside free text → (ParsedTime,
                                    start, end) with the span in the ORIGINAL text, or None
    implausible(parsed, now, prefer=) why a time looks mistyped (year 2099, 03:00), or None
    format_time(at, now=None)       "12月3日（周四）10:00" ("2027年1月5日（周二）09:00" when the
                                    year is not now's year, or when no `now` is given)
    TimeParseError                  a UsageError (and ValueError) whose `.message` is the Chinese
                                    question or explanation to send back

Rules
- Normalisation: NFKC (full-width digits, colons, spaces and brackets become ASCII), then
  surrounding spaces, quotes and trailing punctuation are stripped. Spaces may appear between
  any two parts (`12月21日 下午 2:30`).
- `now` must be aware (ValueError otherwise); results are aware, in `now.tzinfo`, and "today"
  is now's date in that zone.
- Dates: `2026-12-03`, `2026/12/3`, `2026.12.3`, `2026年12月3日`, `二〇二六年十二月三日`;
  `12月3日`/`12月3号`/`十二月二十日`, `12/3`, `12-03` (before a time or at the end);
  `3号`/`二十三日`; `下个月3号`/`本月3号`/`上月3号`;
  今天/今日, 明天/明日, 后天, 大后天, 大大后天, 昨天/昨日, 前天, 大前天; 今晚/明晚/昨晚,
  今夜/昨夜 (that day + 晚上), 今早/明早 (that day + 早上); weeks Monday–Sunday:
  周X/星期X/礼拜X (X in 一二三四五六日天七 or 1–7), 本周X/这周X/这个星期X, 下周X/下个星期X,
  下下周X, 上周X/上个礼拜X, 上上周X. A weekday may annotate a date (`12月3日（周四）`, `明天周五`)
  or a date may annotate a week (`下周三（12月2日）`): they must agree, else an error.
- Which year, month or week when not written:
  * month-day: future → this year unless the day is before today (then next year); past →
    this year unless the day is after today (then last year);
  * `X号`/`X日` alone: the same with this month / next month / previous month;
  * a bare weekday `周三`: this week's (Mon–Sun); future → next week's if that day is before
    today; past → last week's if after today. `本周X`/`下周X`/`上周X` are taken literally;
  * today's date never rolls over: `11月26日9点` typed on 11-26 at 10:00 is refused as past
    (prefer=future), not moved to next year; a time with no date at all means today.
- Clock: `10:00`, `10:00:00`, `10点`, `10时`, `10点钟`, `10点30分`, `10点30`, `10点半` (:30),
  `10点一刻` (:15), `10点三刻` (:45), `10点整`; Chinese numerals 零〇一二两三四五六七八九十 up to
  59 (`两点半`, `十点零五分`). A one-digit minute needs 分 (`10点5分`; `10点5` is refused).
- Parts of day and the hours they accept (h = the written hour):
  凌晨 0–6 (12 → 0) · 早上/早晨/清晨/早间 4–11 · 上午 0–12 · 中午 11–12, 1–3 → +12, 13–15 ·
  下午/午后 1–11 → +12, 12, 13–23 · 傍晚 4–8 → +12, 16–20 · 晚上/晚间/晚/夜里/夜间 5–11 → +12,
  17–23; 晚上12点/0点 and 晚上1–4点 are asked back (midnight: which day?). Other
  combinations (`上午15点`) are refused as contradictory.
- Without a part of day: hours 1–6 written without a leading zero (`3点`, `3:00`, `两点半`) are
  ambiguous and asked back ("是指上午3:00还是下午15:00？"); 0 and 7–23 are taken as written;
  `03:00`/`03点` (leading zero) are explicit 24-hour times.
- Not exact (exact=False) when no hour is given; `at` is then a default hour on that day:
  date only 09:00 · 凌晨 03:00 · 早上 08:00 · 上午 09:00 · 中午 12:00 · 下午 15:00 · 傍晚 18:00 ·
  晚上 19:00. Such an `at` may lie a little before `now` (`今天上午` at 10:00 → 09:00).
- Direction check. prefer="future" (meetings, publication): an exact time before the current
  minute, or a part of day / whole day that has already ended, is refused
  ("这个时间已经过去了：…，请确认日期"). prefer="past" (incidents): an exact time more than
  5 minutes ahead, or a part of day / day that starts more than 5 minutes ahead, is refused
  ("这个时间还没到：…"). 现在/刚才/刚刚 → `now` itself (exact) for both.
- Relative past: `1小时前`, `两个小时前`, `半小时前`, `半个钟头以前`, `30分钟前`, `十分钟之前`
  → that long before `now`, to the minute (exact); refused as past where a future time is
  asked for.
- Ranges `10:00-11:30`, `10点到11点半`, `14:30—16:00`, `上午10点至下午2点`, `下午2点到4点` (the
  end takes the start's part of day): `at` is the start and `end` the end, on the same day; an
  end not after the start is refused.
- Years by name: `明年1月5日`, `今年12月3日`, `去年`, `后年`. Dotted dates `1.15`, `12.3` (before a
  time, a part of day or at the end) are month.day like `12/3`.
- Invalid dates and times (`2月30日`, `13月`, `2027年2月29日`, `25点`, `10点60分`) are refused
  naming the problem; anything not understood is refused with two or three accepted forms.
- find_time: the first expression wins, with two exceptions for free text: a bare hour with no
  date, part of day or minutes (`三点意见`, `快一点`) is skipped, and 现在/刚才 are used only
  when no other expression is found. `3号楼`, `26号文`, `〔2019〕26号`, `3日内` are not dates.
  An expression that is found but cannot be resolved (ambiguous hour, past time, invalid
  date) raises TimeParseError, so the caller can ask back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from liuan_bot.errors import UsageError

__all__ = [
    "ParsedTime",
    "Prefer",
    "TimeParseError",
    "find_time",
    "format_time",
    "implausible",
    "parse_time",
]

Prefer = Literal["future", "past"]


@dataclass(frozen=True)
class ParsedTime:
    """A resolved time: `at` (aware, in now's zone), whether the hour was given, the source."""

    at: datetime
    exact: bool
    text: str
    end: datetime | None = None  # the end of a range (14:30-16:00), same zone and day


class TimeParseError(UsageError, ValueError):
    """A time the bot cannot take as written; `.message` is the Chinese reply to the sender."""


class _Garbled(Exception):
    """A numeral that reads like a number but is none (`十十`, `三四`): not understood."""


# --- the grammar -------------------------------------------------------------------------

_CN = "零〇一二两三四五六七八九十"
# A number: one or two ASCII digits (not part of a longer number) or a Chinese numeral. No
# look-behind for Chinese numerals: 周三三点 is 周三 + 三点 (the search is leftmost anyway).
_NUM = rf"(?:(?<![0-9])[0-9]{{1,2}}(?![0-9])|[{_CN}]{{1,3}})"
_WD = "[一二三四五六日天七1-7]"
_WEEK_WORD = "(?:周|星期|礼拜)"
# What may follow `3号`/`3日` when it is a room, a line, a document… and not a date.
_NOT_A_DAY = (
    "(?!楼|院|线|文|令|门|厅|室|会议室|房|码|位|馆|桥|路|街|口|机|车|窗|件|台|字|内|来|以"
    "|球|床|柜|箱|地块|站|通道|公告|选手|队)"
)

_YMD = (
    rf"(?<![0-9{_CN}])(?P<y>[0-9]{{4}}|[〇零一二三四五六七八九]{{4}})\s*(?:年|[-/.])\s*"
    rf"(?P<ym>{_NUM})\s*(?:月|[-/.])\s*(?P<yd>{_NUM})(?:\s*[日号])?"
)
_MREL = rf"(?P<mr>本月|这个?月|下个?月|上个?月)\s*(?P<mrd>{_NUM})\s*[日号]"
_MD = rf"(?P<mo>{_NUM})\s*月\s*(?P<md>{_NUM})(?:\s*[日号])?"
_YRMD = rf"(?P<yr>今年|明年|去年|后年|前年)\s*(?P<yrm>{_NUM})\s*月\s*(?P<yrd>{_NUM})(?:\s*[日号])?"
# 12/3, and 12-3 only where a date is plausible (12-03 10:00, not 2-3个人).
_MDS = (
    r"(?<![0-9/.\-])(?P<so>[0-9]{1,2})(?:/|[-.](?=[0-9]{1,2}(?:\s+[0-9]|\s*$|\s*[日号(]"
    r"|\s*(?:凌晨|早|上午|中午|下午|午后|傍晚|晚|夜))))(?P<sd>[0-9]{1,2})(?![0-9/\-])"
)
_REL = "(?P<rel>大大后天|大后天|后天|明天|明日|今天|今日|昨天|昨日|大前天|前天)"
_DAY = rf"(?<![0-9{_CN}第每近〕\]/])(?P<dd>{_NUM})\s*[日号]{_NOT_A_DAY}"
_ANN = rf"(?:\s*\(?\s*{_WEEK_WORD}(?P<ann>{_WD})\s*\)?)?"
_RELPOD = "(?P<rp>[今明昨])(?P<rpp>晚上?|早上?|夜里?)"
_WEEK = rf"(?P<week>(?P<wr>下下个?|上上个?|下个?|上个?|本|这个?)?\s*{_WEEK_WORD}(?P<wd>{_WD}))"
_WPAREN = rf"(?:\s*\(\s*(?P<wpo>{_NUM})\s*月\s*(?P<wpd>{_NUM})\s*[日号]?\s*\))?"
_DATE = (
    rf"(?:(?:{_YMD}|{_YRMD}|{_MREL}|{_MD}|{_MDS}|{_REL}|{_DAY}){_ANN}"
    rf"|{_RELPOD}|{_WEEK}{_WPAREN})"
)

_POD = (
    "(?P<pod>凌晨|早上|早晨|清晨|早间|上午|中午|下午|午后|傍晚|晚上|晚间|夜里|夜间"
    # bare 早/晚 only before a plausible hour: 早8点, 晚十点; not 早一点/晚一点 (earlier/later)
    rf"|早(?=\s*(?:[4-9]|1[01]|[四五六七八九十])[0-9{_CN}]{{0,1}}\s*[点时:])"
    rf"|晚(?=\s*(?:[0-9]|[五六七八九十])[0-9{_CN}]{{0,2}}\s*[点时:]))"
)
_CLOCK = r"(?<![0-9])(?P<ch>[0-9]{1,2})\s*:\s*(?P<cm>[0-9]{2})(?::[0-9]{2})?(?![0-9])"
_CNTIME = (
    rf"(?P<h>{_NUM})\s*[点时]钟?"
    rf"(?:\s*(?:(?P<half>半)|(?P<quarter>[一三]刻)|(?P<zheng>整)|(?P<hm>{_NUM})\s*(?P<fen>分)?))?"
)
_TIME = rf"(?:{_CLOCK}|{_CNTIME})"
_NOW = "(?P<now>现在|刚才|刚刚)"
# 1小时前, 两个小时前, 半小时前, 半个钟头以前, 30分钟前, 十分钟之前: that long before `now`
_AGO = rf"(?P<ago>(?P<agon>{_NUM}|半)\s*个?\s*(?P<agou>小时|钟头|分钟)\s*(?:之|以)?前)"


def _anonymous(pattern: str) -> str:
    """The same pattern without group names (for look-aheads and the range's end)."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


def _renamed(pattern: str, prefix: str) -> str:
    """The same pattern with every group name prefixed (the range's end: e_h, e_pod…)."""
    return re.sub(r"\(\?P<(\w+)>", rf"(?P<{prefix}\1>", pattern)


_DASHES = "[-\u2010-\u2015\u2212\uff0d]+"
_TAIL = (
    rf"(?P<tail>\s*(?:{_DASHES}|~|〜|至|到)\s*(?:{_renamed(_POD, 'e_')}\s*)?"
    rf"{_renamed(_TIME, 'e_')})"
)
_EXPR = rf"(?:{_NOW}|{_AGO}|(?:{_DATE})?(?:\s*{_POD})?(?:\s*{_TIME}{_TAIL}?)?)"

_FULL = re.compile(_EXPR)
# In free text: only where some part of an expression starts, so the match is never empty.
_SEARCH = re.compile(
    rf"(?=(?:{_anonymous(_AGO)}|{_anonymous(_DATE)}|{_anonymous(_POD)}|{_anonymous(_TIME)}"
    r"|现在|刚才|刚刚))" + _EXPR
)

# --- vocabulary --------------------------------------------------------------------------

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_WEEKDAY.update({str(n): n - 1 for n in range(1, 8)})
_WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_REL_DAYS = {
    "大大后天": 4,
    "大后天": 3,
    "后天": 2,
    "明天": 1,
    "明日": 1,
    "今天": 0,
    "今日": 0,
    "昨天": -1,
    "昨日": -1,
    "前天": -2,
    "大前天": -3,
}
_RELPOD_DAYS = {"今": 0, "明": 1, "昨": -1}
_WEEK_SHIFT = {"": 0, "本": 0, "这": 0, "下": 1, "下下": 2, "上": -1, "上上": -2}
_YEAR_SHIFT = {"前年": -2, "去年": -1, "今年": 0, "明年": 1, "后年": 2}
_MONTH_SHIFT = {"本月": 0, "这月": 0, "下月": 1, "上月": -1}
_POD_CANON = {
    "凌晨": "凌晨",
    "早上": "早上",
    "早晨": "早上",
    "清晨": "早上",
    "早间": "早上",
    "早": "早上",
    "上午": "上午",
    "中午": "中午",
    "下午": "下午",
    "午后": "下午",
    "傍晚": "傍晚",
    "晚上": "晚上",
    "晚间": "晚上",
    "晚": "晚上",
    "夜里": "晚上",
    "夜间": "晚上",
    "夜": "晚上",
}
# Part of day → (default hour when none is written, span start hour, span end hour).
_POD_SPAN = {
    "凌晨": (3, 0, 6),
    "早上": (8, 5, 9),
    "上午": (9, 6, 12),
    "中午": (12, 11, 14),
    "下午": (15, 12, 18),
    "傍晚": (18, 17, 19),
    "晚上": (19, 18, 24),
    None: (9, 0, 24),  # a date without any time
}
_PAST_TOLERANCE = timedelta(minutes=5)
_STRIP = " \t\r\n\u3000\"'“”‘’「」『』"
_STRIP_TRAILING = _STRIP + ".,!?;:、。~…"

_FORMS = "请按“12月3日上午10点”“明天下午3点”或“2026-12-03 10:00”的格式填写时间。"

# --- helpers -----------------------------------------------------------------------------


def _error(message: str) -> TimeParseError:
    return TimeParseError(message)


def _number(token: str) -> int:
    """`12`, `十二`, `二十三`, `零五`, `两` → int; raise _Garbled for `十十`, `三四`."""
    if token.isascii():
        return int(token)
    if "十" in token:
        head, _, tail = token.partition("十")
        if len(head) > 1 or len(tail) > 1 or "十" in tail:
            raise _Garbled(token)
        tens = _DIGITS[head] if head else 1
        if tens == 0:
            raise _Garbled(token)
        return tens * 10 + (_DIGITS[tail] if tail else 0)
    if len(token) == 1:
        return _DIGITS[token]
    if len(token) == 2 and token[0] in "零〇":
        return _DIGITS[token[1]]
    raise _Garbled(token)


def _year(token: str) -> int:
    return int(token) if token.isascii() else int("".join(str(_DIGITS[c]) for c in token))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_month_day(month: int, day: int) -> None:
    if not 1 <= month <= 12:
        raise _error(f"日期不对：没有{month}月，请确认日期。")
    if not 1 <= day <= _MAX_DAYS[month - 1]:
        raise _error(f"日期不对：{month}月没有{day}日，请确认日期。")


def _make_date(year: int, month: int, day: int) -> date:
    _check_month_day(month, day)
    if month == 2 and day == 29 and not _is_leap(year):
        raise _error(f"日期不对：{year}年不是闰年，2月没有29日，请确认日期。")
    if not 1 <= year <= 9999:
        raise _error(f"日期不对：{year}年，请确认日期。")
    return date(year, month, day)


def _shift_month(year: int, month: int, shift: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + shift
    return index // 12, index % 12 + 1


def _date_label(day: date, now: datetime, *, weekday: bool = True) -> str:
    year = "" if day.year == now.year else f"{day.year}年"
    name = f"（{_WEEKDAY_NAMES[day.weekday()]}）" if weekday else ""
    return f"{year}{day.month}月{day.day}日{name}"


def format_time(at: datetime, now: datetime | None = None) -> str:
    """`12月3日（周四）10:00`; the year is shown unless `now` is given and in the same year.

    With an aware `now`, `at` is shown in now's zone.
    """
    if now is not None and now.tzinfo is not None and at.tzinfo is not None:
        at = at.astimezone(now.tzinfo)
    year = "" if now is not None and at.year == now.year else f"{at.year}年"
    weekday = _WEEKDAY_NAMES[at.weekday()]
    return f"{year}{at.month}月{at.day}日（{weekday}）{at.hour:02d}:{at.minute:02d}"


# --- resolution --------------------------------------------------------------------------


def _resolve_day(m: re.Match[str], today: date, prefer: Prefer) -> tuple[date, str | None]:
    """The day an expression means, and the part of day a word like 昨晚 implies."""
    g = m.group
    if g("y") is not None:
        return _make_date(_year(g("y")), _number(g("ym")), _number(g("yd"))), None
    if g("yr") is not None:
        year = today.year + _YEAR_SHIFT[g("yr")]
        return _make_date(year, _number(g("yrm")), _number(g("yrd"))), None
    if g("mo") is not None or g("so") is not None:
        if g("mo") is not None:
            month, day = _number(g("mo")), _number(g("md"))
        else:
            month, day = int(g("so")), int(g("sd"))
        return _pick_year(month, day, today, prefer), None
    if g("mr") is not None:
        year, month = _shift_month(
            today.year, today.month, _MONTH_SHIFT[g("mr").replace("个", "")]
        )
        return _make_date(year, month, _number(g("mrd"))), None
    if g("dd") is not None:
        return _pick_month(_number(g("dd")), today, prefer), None
    if g("rel") is not None:
        return today + timedelta(days=_REL_DAYS[g("rel")]), None
    if g("rp") is not None:
        return today + timedelta(days=_RELPOD_DAYS[g("rp")]), _POD_CANON[g("rpp")[0]]
    if g("wd") is not None:
        bare = g("wr") is None
        shift = _WEEK_SHIFT[(g("wr") or "").replace("个", "")]
        monday = today - timedelta(days=today.weekday())
        day_ = monday + timedelta(weeks=shift, days=_WEEKDAY[g("wd")])
        if bare and prefer == "future" and day_ < today:
            day_ += timedelta(weeks=1)
        elif bare and prefer == "past" and day_ > today:
            day_ -= timedelta(weeks=1)
        return day_, None
    return today, None


def _pick_year(month: int, day: int, today: date, prefer: Prefer) -> date:
    _check_month_day(month, day)
    year = today.year
    if prefer == "future" and (month, day) < (today.month, today.day):
        year += 1
    elif prefer == "past" and (month, day) > (today.month, today.day):
        year -= 1
    return _make_date(year, month, day)


def _pick_month(day: int, today: date, prefer: Prefer) -> date:
    if not 1 <= day <= 31:
        raise _error(f"日期不对：没有{day}号，请确认日期。")
    shift = 0
    if prefer == "future" and day < today.day:
        shift = 1
    elif prefer == "past" and day > today.day:
        shift = -1
    year, month = _shift_month(today.year, today.month, shift)
    return _make_date(year, month, day)


def _check_annotations(m: re.Match[str], day: date, now: datetime) -> None:
    ann = m.group("ann")
    if ann is not None and _WEEKDAY[ann] != day.weekday():
        actual, written = _WEEKDAY_NAMES[day.weekday()], _WEEKDAY_NAMES[_WEEKDAY[ann]]
        raise _error(
            f"日期对不上：{_date_label(day, now, weekday=False)}是{actual}，不是{written}，"
            "请确认日期。"
        )
    if m.group("wpo") is not None:
        month, day_of_month = _number(m.group("wpo")), _number(m.group("wpd"))
        if (month, day_of_month) != (day.month, day.day):
            raise _error(
                f"日期对不上：{m.group('week')}是{day.month}月{day.day}日，"
                f"不是{month}月{day_of_month}日，请确认日期。"
            )


def _clock(m: re.Match[str], p: str = "") -> tuple[int, int, bool, int] | None:
    """(hour, minute, written with a leading zero, hour's offset) or None without a clock;
    `p` = "e_" reads the end of a range."""

    def g(name: str) -> str | None:
        return m.group(p + name)

    token = g("ch")
    if token is not None:
        leading = len(token) == 2 and token[0] == "0"
        return int(token), int(g("cm") or 0), leading, m.start(p + "ch")
    token = g("h")
    if token is None:
        return None
    if g("half"):
        minute = 30
    elif (quarter := g("quarter")) is not None:
        minute = 15 if quarter[0] == "一" else 45
    elif (minute_token := g("hm")) is not None:
        one_figure = len(minute_token) == 1 and minute_token != "十"
        if one_figure and not g("fen"):
            raise _Garbled(minute_token)  # 10点5: 10:05 or 10:50? ask for the 分.
        minute = _number(minute_token)
    else:
        minute = 0
    leading_zero = token.isascii() and len(token) == 2 and token[0] == "0"
    return _number(token), minute, leading_zero, m.start(p + "h")


def _apply_part_of_day(pod: str, hour: int, expr: str) -> int:
    """The 24-hour hour for `hour` written after the part of day `pod`."""
    if pod == "凌晨":
        if hour == 12:
            return 0
        if hour <= 6:
            return hour
    elif pod == "早上":
        if 4 <= hour <= 11:
            return hour
    elif pod == "上午":
        if hour <= 12:
            return hour
    elif pod == "中午":
        if 1 <= hour <= 3:
            return hour + 12
        if 11 <= hour <= 15:
            return hour
    elif pod == "下午":
        if 1 <= hour <= 11:
            return hour + 12
        if 12 <= hour <= 23:
            return hour
    elif pod == "傍晚":
        if 4 <= hour <= 8:
            return hour + 12
        if 16 <= hour <= 20:
            return hour
    else:  # 晚上
        if 5 <= hour <= 11:
            return hour + 12
        if 17 <= hour <= 23:
            return hour
        if hour in (0, 12, 24):
            raise _error(
                f"“{expr}”容易误会：午夜请写“凌晨0点”并写明是哪一天（如“明天凌晨0点”），"
                "中午请写“中午12点”。"
            )
        if 1 <= hour <= 4:
            raise _error(
                f"“{expr}”容易误会：午夜以后请写“凌晨{hour}点”并写明是哪一天"
                f"（如“明天凌晨{hour}点”），白天请写“下午{hour}点”。"
            )
    raise _error(f"“{expr}”前后矛盾：{pod}没有{hour}点。请确认时间，例如“下午3点”或“15:00”。")


def _resolve(m: re.Match[str], now: datetime, prefer: Prefer) -> ParsedTime:
    """Turn a match of _EXPR into a time, or raise TimeParseError / _Garbled."""
    expr = m.group(0)
    if m.group("now") is not None:
        return ParsedTime(now, True, expr)
    if m.group("ago") is not None:
        return _ago(m, now, prefer)
    today = now.date()
    day, implied_pod = _resolve_day(m, today, prefer)
    _check_annotations(m, day, now)

    pod_word = m.group("pod")
    pod = _POD_CANON[pod_word] if pod_word is not None else None
    if implied_pod is not None:
        if pod is not None:
            raise _error(f"“{expr}”里时段重复了，请只写一个，例如“明天晚上8点”。")
        pod = implied_pod

    tz = now.tzinfo
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    clock = _clock(m)
    end: datetime | None = None
    if clock is None:
        default, first_hour, last_hour = _POD_SPAN[pod]
        at = midnight + timedelta(hours=default)
        earliest = midnight + timedelta(hours=first_hour)
        latest = midnight + timedelta(hours=last_hour)
        exact = False
    else:
        hour, minute, leading_zero, hour_at = clock
        if hour > 23:
            raise _error(f"时间不对：一天只有0到23点，“{expr}”写的是{hour}点，请确认时间。")
        if minute > 59:
            raise _error(f"时间不对：一小时只有0到59分，“{expr}”写的是{minute}分，请确认时间。")
        if pod is not None:
            hour = _apply_part_of_day(pod, hour, expr)
        elif 1 <= hour <= 6 and not leading_zero:
            offset = hour_at - m.start()
            example = expr[:offset] + "下午" + expr[offset:]
            raise _error(
                f"“{expr}”是指上午{hour}:{minute:02d}还是下午{hour + 12}:{minute:02d}？"
                f"请写明“上午”或“下午”，例如：{example}。"
            )
        at = midnight + timedelta(hours=hour, minutes=minute)
        earliest = latest = at
        exact = True
        end = _range_end(m, at, pod, expr)

    if prefer == "future":
        current_minute = now.replace(second=0, microsecond=0)
        if (exact and at < current_minute) or (not exact and latest <= now):
            raise _error(f"这个时间已经过去了：{_label(at, exact, pod, now)}，请确认日期。")
    elif earliest > now + _PAST_TOLERANCE:
        raise _error(f"这个时间还没到：{_label(at, exact, pod, now)}，请确认日期。")
    return ParsedTime(at, exact, expr, end)


def _label(at: datetime, exact: bool, pod: str | None, now: datetime) -> str:
    """How an error names the time it is about: the time, or the day and its part of day
    (built only for an error: a valid time never needs it)."""
    return format_time(at, now) if exact else _date_label(at.date(), now) + (pod or "")


def _range_end(m: re.Match[str], start: datetime, pod: str | None, expr: str) -> datetime | None:
    """The end of `10:00-11:30`, `下午2点到4点` (the start's part of day), on the start's day."""
    clock = _clock(m, "e_")
    if clock is None:
        return None
    hour, minute, _leading_zero, _at = clock
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        raise _error(f"时间不对：“{expr}”的结束时间写的是{hour}点{minute}分，请确认时间。")
    end_pod_word = m.group("e_pod")
    end_pod = _POD_CANON[end_pod_word] if end_pod_word is not None else pod
    if end_pod is not None and hour < 24:
        try:
            hour = _apply_part_of_day(end_pod, hour, expr)
        except TimeParseError:
            if end_pod_word is not None:
                raise
    midnight = start.replace(hour=0, minute=0)
    end = midnight + timedelta(hours=hour, minutes=minute)
    if end <= start and start.hour >= 12 and hour < 12 and end + timedelta(hours=12) > start:
        end += timedelta(hours=12)  # 14:00-4:30: the afternoon
    if end <= start:
        raise _error(f"“{expr}”的结束时间不晚于开始时间，请确认时间，例如“14:30-16:00”。")
    return end


def _ago(m: re.Match[str], now: datetime, prefer: Prefer) -> ParsedTime:
    """`1小时前`, `半小时前`, `30分钟前`: that long before `now`, to the minute (exact). A time
    that has already passed where a future one is asked for is refused like any other."""
    amount = 0.5 if m.group("agon") == "半" else float(_number(m.group("agon")))
    unit = timedelta(hours=1) if m.group("agou") in ("小时", "钟头") else timedelta(minutes=1)
    at = (now - amount * unit).replace(second=0, microsecond=0)
    if prefer == "future":
        raise _error(f"这个时间已经过去了：{format_time(at, now)}，请确认日期。")
    return ParsedTime(at, True, m.group(0))


_FAR = timedelta(days=370)
_FAR_PAST = timedelta(days=5 * 365)  # training is due every 3 years: 2 years back is plausible
_NIGHT = (0, 6)  # 00:00-05:59: nobody holds or publishes at that hour without meaning it


def implausible(parsed: ParsedTime, now: datetime, *, prefer: Prefer = "future") -> str | None:
    """Why a valid time looks mistyped (E4), as the start of a question, or None.

    Future times more than a year ahead (2099年) or in the small hours (03:00); past times more
    than five years ago.
    """
    at = parsed.at.astimezone(now.tzinfo)
    if prefer == "future":
        if at - now > _FAR:
            return f"{_label(at, parsed.exact, None, now)}离现在一年多，"
        night = parsed.exact and _NIGHT[0] <= at.hour < _NIGHT[1]
        if night and not re.search("凌晨|夜|晚", parsed.text):  # 凌晨1点 is meant
            return f"{_label(at, parsed.exact, None, now)}是凌晨，"
    elif now - at > _FAR_PAST:
        return f"{_label(at, parsed.exact, None, now)}已是五年多以前，"
    return None


def _has_parts(m: re.Match[str]) -> bool:
    """Whether a match holds something (not only an empty string or a dangling range)."""
    g = m.group
    return (
        g("now") is not None
        or g("ago") is not None
        or g("pod") is not None
        or _has_clock(m)
        or _has_date(m)
    )


def _has_clock(m: re.Match[str]) -> bool:
    return m.group("ch") is not None or m.group("h") is not None


def _has_date(m: re.Match[str]) -> bool:
    g = m.group
    names = ("y", "yr", "mo", "so", "mr", "dd", "rel", "rp", "wd")
    return any(g(name) is not None for name in names)


def _check_args(now: datetime, prefer: str) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("timeparse needs an aware `now`")
    if prefer not in ("future", "past"):
        raise ValueError(f"prefer must be 'future' or 'past', not {prefer!r}")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip(_STRIP).rstrip(_STRIP_TRAILING)


# --- the API -----------------------------------------------------------------------------


def parse_time(text: str, now: datetime, *, prefer: Prefer = "future") -> ParsedTime:
    """Parse `text`, which must be one time expression and nothing else (see module rules)."""
    _check_args(now, prefer)
    norm = _normalise(text)
    if not norm:
        raise _error(f"没有写时间。{_FORMS}")
    m = _FULL.fullmatch(norm)
    if m is None or not _has_parts(m):
        raise _error(f"没看懂时间“{norm}”。{_FORMS}")
    try:
        return _resolve(m, now, prefer)
    except _Garbled:
        raise _error(f"没看懂时间“{norm}”。{_FORMS}") from None


def _normalise_with_map(text: str) -> tuple[str, list[int] | None]:
    """NFKC `text` and, when lengths change, map each normalised index to its source index."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, None
    pieces = [unicodedata.normalize("NFKC", char) for char in text]
    if all(len(piece) == 1 for piece in pieces):
        return "".join(pieces), None
    source: list[int] = []
    for index, piece in enumerate(pieces):
        source.extend([index] * len(piece))
    return "".join(pieces), source


def find_time(
    text: str, now: datetime, *, prefer: Prefer = "future"
) -> tuple[ParsedTime, int, int] | None:
    """The first time expression in free `text`, with its [start, end) span in `text`.

    None when there is none; TimeParseError when one is found but cannot be resolved.
    """
    _check_args(now, prefer)
    norm, source = _normalise_with_map(text)
    fallback: tuple[ParsedTime, int, int] | None = None
    pos = 0
    while (m := _SEARCH.search(norm, pos)) is not None:
        pos = max(m.end(), m.start() + 1)
        bare_hour = (
            m.group("h") is not None
            and not _has_date(m)
            and m.group("pod") is None
            and not (m.group("half") or m.group("quarter") or m.group("zheng") or m.group("hm"))
        )
        if bare_hour:
            continue  # 三点意见, 快一点: not a time without more context
        try:
            parsed = _resolve(m, now, prefer)
        except _Garbled:
            continue
        if source is None:
            start, end = m.start(), m.end()
        else:
            start, end = source[m.start()], source[m.end() - 1] + 1
        if m.group("now") is not None:
            fallback = fallback or (parsed, start, end)
            continue
        return parsed, start, end
    return fallback
