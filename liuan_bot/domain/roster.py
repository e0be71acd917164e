"""The roster (人员名册): who holds which role in which unit, imported from a CSV file.

R4: each city department names 1–2 spokespersons and a liaison; roster validation warns when a
unit has more than 2 spokespersons, a key unit has none, or a unit has no liaison.
R5: the roster is filed every year; this module parses and checks the filed file.
R6: the public spokesperson directory is generated from the rows marked public.

Pure: standard library only. The caller reads the uploaded file and passes its bytes in.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from liuan_bot.domain.roles import Role, parse_role


class UnitType(StrEnum):
    """The kind of a unit; the value is the roster's Chinese name."""

    CITY_DEPARTMENT = "市直部门"
    COUNTY = "县区"
    DEV_ZONE = "开发区"
    NEWS_OFFICE = "新闻办"
    NEWS_UNIT = "新闻单位"
    OTHER = "其他"


# Roster spellings people actually type, mapped to the canonical unit type.
UNIT_TYPE_ALIASES: dict[str, UnitType] = {
    **{unit_type.value: unit_type for unit_type in UnitType},
    "市直": UnitType.CITY_DEPARTMENT,
    "市直单位": UnitType.CITY_DEPARTMENT,
    "县": UnitType.COUNTY,
    "区": UnitType.COUNTY,
    "县区政府": UnitType.COUNTY,
    "县(区)": UnitType.COUNTY,
    "县（区）": UnitType.COUNTY,
    "媒体": UnitType.NEWS_UNIT,
    "新闻媒体": UnitType.NEWS_UNIT,
    "其它": UnitType.OTHER,
}

# R4: unit types whose units must name a liaison.
LIAISON_REQUIRED_UNIT_TYPES: frozenset[UnitType] = frozenset(
    {UnitType.CITY_DEPARTMENT, UnitType.COUNTY, UnitType.DEV_ZONE}
)

# R4: at most this many spokespersons per unit.
MAX_SPOKESPERSONS = 2

ROSTER_HEADER: tuple[str, ...] = (
    "单位",
    "单位类型",
    "重点单位",
    "姓名",
    "企业微信账号",
    "角色",
    "职务",
    "手机",
    "公开",
)
# B3 (R6): optional last column, the unit's news-release office phone, shown in the directory.
OFFICE_PHONE_COLUMN = "新闻发布联系电话"
_OFFICE_PHONE = re.compile(r"[0-9０-９][0-9０-９\-－—（）() 转]{5,24}")

_TRUE_WORDS = frozenset({"是", "y", "1", "true"})
_FALSE_WORDS = frozenset({"否", "n", "0", "false", ""})

# Separators between role names inside the 角色 cell (the ASCII comma separates CSV cells).
_ROLE_SEPARATORS = re.compile(r"[;；、/／，\s]+")

# WeCom's rule for a member's userid (账号): 1–64 letters, digits, _ - . @.
_USERID = re.compile(r"[A-Za-z0-9_.@-]{1,64}", re.ASCII)
_USERID_MAX_LENGTH = 64

_MOBILE = re.compile(r"1[0-9]{10}", re.ASCII)
_MOBILE_NOISE = re.compile("[\\s\\-\u2010-\u2015\uff0d]+")  # spaces, ASCII and Unicode dashes

# Characters `str.strip` keeps that spreadsheets still leave around cell text.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"

_ROLE_NAMES = "、".join(role.value for role in Role)
_UNIT_TYPE_NAMES = "、".join(unit_type.value for unit_type in UnitType)


def parse_unit_type(text: str) -> UnitType | None:
    """The unit type named by `text` (canonical name or alias), or None."""
    return UNIT_TYPE_ALIASES.get(_clean(text))


@dataclass(frozen=True)
class RosterRow:
    """One person of the roster; `line` is the row number a spreadsheet shows (header = 1)."""

    line: int
    unit: str
    unit_type: UnitType
    key_unit: bool
    name: str
    userid: str
    roles: frozenset[Role]
    title: str
    mobile: str
    public: bool
    office_phone: str = ""  # the unit's news-release contact (R6), optional column


@dataclass(frozen=True)
class RosterProblem:
    """An error or warning about the roster; `line` is None when it concerns the whole file."""

    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"第{self.line}行：{self.message}"


@dataclass(frozen=True)
class RosterParseResult:
    """Valid rows, errors (the file must not be imported) and R4 warnings."""

    rows: tuple[RosterRow, ...]
    errors: tuple[RosterProblem, ...]
    warnings: tuple[RosterProblem, ...]

    @property
    def ok(self) -> bool:
        """Whether the file may be imported (no errors; warnings do not block)."""
        return not self.errors


def parse_roster_csv(data: bytes) -> RosterParseResult:
    """Parse and check an uploaded roster file (R4, R5, R6).

    `data` is UTF-8 CSV, with or without a BOM (Excel's "CSV UTF-8"), whose first non-blank row
    is `ROSTER_HEADER`. Every invalid row is reported, each with its spreadsheet row number;
    `rows` holds only the valid rows. R4 warnings are computed for units whose rows are all
    valid, so an error does not also show up as a misleading warning.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _failed(
            "文件不是 UTF-8 编码。请在 Excel 中选择“另存为”→“CSV UTF-8（逗号分隔）”后重新上传。"
        )

    errors: list[RosterProblem] = []
    records = _records(text, errors)
    header_line: int | None = None
    with_phone = False
    for line, cells in records:
        if any(cells):
            header_line = line
            header = _without_trailing_empty(cells)
            with_phone = header == [*ROSTER_HEADER, OFFICE_PHONE_COLUMN]
            if header != list(ROSTER_HEADER) and not with_phone:
                errors.append(
                    RosterProblem(
                        line,
                        f"表头不正确，应为：{','.join(ROSTER_HEADER)}（共 9 列；"
                        f"可在最后加一列“{OFFICE_PHONE_COLUMN}”）。",
                    )
                )
                return RosterParseResult(rows=(), errors=tuple(errors), warnings=())
            break
    if header_line is None:
        if errors:
            return RosterParseResult(rows=(), errors=tuple(errors), warnings=())
        errors.append(
            RosterProblem(None, f"文件为空。第一行应为表头：{','.join(ROSTER_HEADER)}。")
        )
        return RosterParseResult(rows=(), errors=tuple(errors), warnings=())

    checker = _RowChecker(with_phone)
    for line, cells in records:
        if any(cells):
            checker.check(line, cells)
    errors.extend(checker.errors)
    errors.sort(key=lambda problem: problem.line or 0)

    if not checker.rows and not errors:
        errors.append(RosterProblem(None, "名册中没有人员，表头下至少需要一行。"))

    warnings = [
        problem
        for unit, problem in _r4_unit_warnings(checker.rows)
        if unit not in checker.units_with_errors
    ]
    return RosterParseResult(
        rows=tuple(checker.rows), errors=tuple(errors), warnings=tuple(warnings)
    )


def r4_warnings(rows: Iterable[RosterRow]) -> list[RosterProblem]:
    """R4 checks over a whole roster: more than 2 spokespersons in a unit, a key unit without a
    spokesperson, a city department / county / development zone without a liaison.

    Units are considered in order of first appearance; each warning names its unit.
    """
    return [problem for _unit, problem in _r4_unit_warnings(rows)]


def _r4_unit_warnings(rows: Iterable[RosterRow]) -> list[tuple[str, RosterProblem]]:
    """R4 warnings, each with the unit it concerns."""
    units: dict[str, list[RosterRow]] = {}
    for row in rows:
        units.setdefault(row.unit, []).append(row)

    warnings: list[tuple[str, RosterProblem]] = []
    for unit, members in units.items():
        spokespersons = [row.name for row in members if Role.SPOKESPERSON in row.roles]
        if len(spokespersons) > MAX_SPOKESPERSONS:
            names = "、".join(spokespersons)
            message = (
                f"单位“{unit}”有 {len(spokespersons)} 名新闻发言人（{names}），"
                f"按规定应为 1–{MAX_SPOKESPERSONS} 名。"
            )
            warnings.append((unit, RosterProblem(None, message)))
        if not spokespersons and any(row.key_unit for row in members):
            message = f"重点单位“{unit}”没有新闻发言人，按规定应确定 1–{MAX_SPOKESPERSONS} 名。"
            warnings.append((unit, RosterProblem(None, message)))
        needs_liaison = members[0].unit_type in LIAISON_REQUIRED_UNIT_TYPES
        if needs_liaison and not any(Role.LIAISON in row.roles for row in members):
            message = f"单位“{unit}”没有联络员，按规定应确定 1 名联络员。"
            warnings.append((unit, RosterProblem(None, message)))
    return warnings


class _RowChecker:
    """Checks data rows one by one, remembering what later rows must agree with."""

    def __init__(self, with_phone: bool = False) -> None:
        self.with_phone = with_phone
        self._phones: dict[str, tuple[int, str]] = {}
        self.rows: list[RosterRow] = []
        self.errors: list[RosterProblem] = []
        self.units_with_errors: set[str] = set()
        self._userid_lines: dict[str, int] = {}
        self._unit_types: dict[str, tuple[int, UnitType]] = {}
        self._key_units: dict[str, tuple[int, bool]] = {}

    def check(self, line: int, raw_cells: list[str]) -> None:
        problems = self._problems(line, raw_cells)
        self.errors.extend(RosterProblem(line, message) for message in problems)
        if problems and raw_cells[0]:
            self.units_with_errors.add(raw_cells[0])

    def _problems(self, line: int, raw_cells: list[str]) -> list[str]:
        cells = _without_trailing_empty(raw_cells)
        if cells == list(ROSTER_HEADER):
            return ["重复的表头行，请删除。"]
        columns = len(ROSTER_HEADER) + (1 if self.with_phone else 0)
        if len(cells) > columns:
            return [
                f"本行有 {len(cells)} 列，应为 {columns} 列"
                "（单元格内容含英文逗号时，请改用中文逗号或用英文引号括起来）。"
            ]
        if self.with_phone and len(raw_cells) == columns - 1:
            raw_cells = [*raw_cells, ""]  # an empty last cell that a spreadsheet left out
        if len(raw_cells) < columns:
            return [
                f"本行只有 {len(raw_cells)} 列，应为 {columns} 列"
                "（请检查是否少了单元格，或有未配对的英文引号）。"
            ]
        cells = raw_cells[: len(ROSTER_HEADER)]
        phone_text = raw_cells[len(ROSTER_HEADER)].strip() if self.with_phone else ""
        (
            unit,
            unit_type_text,
            key_text,
            name,
            userid,
            roles_text,
            title,
            mobile_text,
            public_text,
        ) = cells

        problems: list[str] = []
        if not unit:
            problems.append("“单位”不能为空。")

        unit_type = parse_unit_type(unit_type_text)
        if unit_type is None:
            if unit_type_text:
                problems.append(f"单位类型“{unit_type_text}”无法识别，应为：{_UNIT_TYPE_NAMES}。")
            else:
                problems.append(f"“单位类型”不能为空，应为：{_UNIT_TYPE_NAMES}。")
        elif unit:
            first_line, first_type = self._unit_types.setdefault(unit, (line, unit_type))
            if first_type != unit_type:
                problems.append(
                    f"单位“{unit}”的单位类型为“{unit_type}”，"
                    f"与第{first_line}行的“{first_type}”不一致。"
                )

        key_unit = _parse_bool(key_text)
        if key_unit is None:
            problems.append(f"“重点单位”填的“{key_text}”无法识别，应填“是”或“否”。")
        elif unit:
            first_line, first_key = self._key_units.setdefault(unit, (line, key_unit))
            if first_key != key_unit:
                problems.append(
                    f"单位“{unit}”的重点单位为“{_yes_no(key_unit)}”，"
                    f"与第{first_line}行的“{_yes_no(first_key)}”不一致。"
                )

        name = _clean_name(name)
        if not name:
            problems.append("“姓名”不能为空。")

        userid_problem = userid_problem_of(userid)
        if userid_problem is not None:
            problems.append(userid_problem)
        else:
            # WeCom userids are case-insensitive.
            first_line = self._userid_lines.setdefault(userid.casefold(), line)
            if first_line != line:
                problems.append(f"企业微信账号“{userid}”与第{first_line}行重复。")

        roles, unknown_roles = _parse_roles(roles_text)
        if unknown_roles:
            quoted = "".join(f"“{text}”" for text in unknown_roles)
            problems.append(f"角色{quoted}无法识别，可填：{_ROLE_NAMES}。")
        elif not roles:
            problems.append(f"“角色”不能为空，可填：{_ROLE_NAMES}（多个角色用“;”或“、”分隔）。")

        mobile = normalise_mobile(mobile_text)
        if mobile is None:
            problems.append(f"手机号“{mobile_text}”不正确，应为以 1 开头的 11 位数字，或留空。")

        public = _parse_bool(public_text)
        if public is None:
            problems.append(f"“公开”填的“{public_text}”无法识别，应填“是”或“否”。")

        if phone_text and not _OFFICE_PHONE.fullmatch(phone_text):
            problems.append(
                f"{OFFICE_PHONE_COLUMN}“{phone_text}”不正确，应为电话号码，"
                "例如 0564-3379001，或留空。"
            )
        elif phone_text and unit:
            first_line, first_phone = self._phones.setdefault(unit, (line, phone_text))
            if first_phone != phone_text:
                problems.append(
                    f"单位“{unit}”的{OFFICE_PHONE_COLUMN}为“{phone_text}”，"
                    f"与第{first_line}行的“{first_phone}”不一致（每个单位填一个号码即可）。"
                )

        if problems or unit_type is None or key_unit is None or mobile is None or public is None:
            return problems
        self.rows.append(
            RosterRow(
                line=line,
                unit=unit,
                unit_type=unit_type,
                key_unit=key_unit,
                name=name,
                userid=userid,
                roles=roles,
                title=title,
                mobile=mobile,
                public=public,
                office_phone=phone_text,
            )
        )
        return []


def _records(text: str, errors: list[RosterProblem]) -> Iterator[tuple[int, list[str]]]:
    """CSV records with their spreadsheet row numbers and cleaned cells.

    A CSV syntax error is added to `errors` and ends the file.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 0
    while True:
        line += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            errors.append(
                RosterProblem(line, "CSV 格式有误（可能有未配对的引号），无法继续读取。")
            )
            return
        yield line, [_clean(cell) for cell in cells]


def _failed(message: str) -> RosterParseResult:
    return RosterParseResult(rows=(), errors=(RosterProblem(None, message),), warnings=())


def _clean(text: str) -> str:
    """`text` without surrounding whitespace (full-width spaces included) or invisible marks."""
    return text.strip().strip(_INVISIBLE).strip()


def _clean_name(text: str) -> str:
    """A person's name; Chinese names padded with spaces for alignment ("王  伟") are joined."""
    if re.search(r"[A-Za-z]", text):
        return " ".join(text.split())
    return "".join(text.split())


def _without_trailing_empty(cells: list[str]) -> list[str]:
    """Cells without the empty ones at the end (spreadsheets add them after the last column)."""
    end = len(cells)
    while end > 0 and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _parse_bool(text: str) -> bool | None:
    """是/否, Y/N, 1/0, true/false (any case, empty = 否), or None."""
    word = unicodedata.normalize("NFKC", text).strip().casefold()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def userid_problem_of(userid: str) -> str | None:
    """Why `userid` is not a valid WeCom userid, or None."""
    if not userid:
        return "“企业微信账号”不能为空。"
    if len(userid) > _USERID_MAX_LENGTH:
        return f"企业微信账号“{userid}”超过 {_USERID_MAX_LENGTH} 个字符。"
    if not _USERID.fullmatch(userid):
        return f"企业微信账号“{userid}”含有不允许的字符，只能用英文字母、数字和 _ - . @。"
    return None


def _parse_roles(text: str) -> tuple[frozenset[Role], list[str]]:
    """The roles named in the 角色 cell and the names that are not roles."""
    roles: set[Role] = set()
    unknown: list[str] = []
    for part in _ROLE_SEPARATORS.split(text):
        if not part:
            continue
        role = parse_role(part)
        if role is None:
            unknown.append(part)
        else:
            roles.add(role)
    return frozenset(roles), unknown


def normalise_mobile(text: str) -> str | None:
    """An 11-digit mobile number without spaces or dashes, "" for an empty cell, or None."""
    digits = _MOBILE_NOISE.sub("", unicodedata.normalize("NFKC", text))
    if not digits:
        return ""
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits if _MOBILE.fullmatch(digits) else None


# --- speakers matched to the roster (issue 9 A1; R8–R10) ----------------------------------

# Titles and honorifics people write after (or before) a name: 郭学军局长, 徐启航副局长, 王强同志.
# Longest first, so 副局长 goes before 局长 and 常务副市长 before 副市长.
SPEAKER_TITLES: tuple[str, ...] = tuple(
    sorted(
        {
            "局长",
            "副局长",
            "主任",
            "副主任",
            "同志",
            "书记",
            "副书记",
            "党组书记",
            "主席",
            "副主席",
            "秘书长",
            "副秘书长",
            "县长",
            "副县长",
            "区长",
            "副区长",
            "市长",
            "副市长",
            "常务副市长",
            "处长",
            "副处长",
            "科长",
            "副科长",
            "部长",
            "副部长",
            "主任委员",
            "委员",
            "厅长",
            "副厅长",
            "所长",
            "院长",
            "副院长",
            "校长",
            "副校长",
            "总经理",
            "经理",
            "董事长",
            "主委",
            "专家",
            "教授",
            "研究员",
            "总工程师",
            "发言人",
            "新闻发言人",
            "负责人",
            "主要负责人",
            "先生",
            "女士",
            "老师",
            "队长",
            "副队长",
            "站长",
            "馆长",
            "行长",
            "会长",
            "社长",
            "台长",
            "总编辑",
            "巡视员",
            "调研员",
            "一级调研员",
            "二级调研员",
            "三级调研员",
            "四级调研员",
            "督察长",
        },
        key=len,
        reverse=True,
    )
)
_SPEAKER_NOISE = re.compile(r"[（(][^）)]*[）)]|[\s·•]")


@lru_cache(maxsize=4096)
def strip_speaker_title(text: str) -> str:
    """The name in `郭学军局长`, `市教育局局长郭学军`, `徐启航（副局长）`, `王强同志`.

    Titles are removed from the end (repeatedly: 党组书记局长) and from the start; a leading unit
    name ending in 局/委/办/府/院/会 before a title goes with it. A text that is only a title is
    kept as it is (nothing to match). Cached: the same few names are typed again and again
    (each application matches its speakers at filing and on every card), ~50 µs each."""
    name = _SPEAKER_NOISE.sub("", unicodedata.normalize("NFKC", text))
    stripped = True
    while stripped:
        stripped = False
        for title in SPEAKER_TITLES:
            if name.endswith(title) and len(name) - len(title) >= 2:
                name, stripped = name[: -len(title)].rstrip("、,"), True
                break
    cut = 0
    for title in SPEAKER_TITLES:
        at = name.rfind(title)
        if at >= 0 and len(name) - at - len(title) >= 2:
            cut = max(cut, at + len(title))
    return name[cut:] or text.strip()


@dataclass(frozen=True)
class RosterPerson:
    """A person of a unit, as speaker matching sees them."""

    name: str
    userid: str
    title: str = ""

    def label(self, unit: str) -> str:
        """`郭学军（市教育局党组书记、局长）`, for the question asked about a near name."""
        return f"{self.name}（{unit}{self.title}）" if self.title else f"{self.name}（{unit}）"


@dataclass(frozen=True)
class SpeakerMatch:
    """Speakers as typed, matched to a unit's people after removing titles."""

    matched: tuple[tuple[str, RosterPerson], ...]  # (as typed, person)
    unknown: tuple[str, ...]  # typed names with no one of that name in the unit
    suggestions: Mapping[str, tuple[RosterPerson, ...]]  # near roster names per unknown name

    @property
    def needs_question(self) -> bool:
        """Whether an unknown name looks like someone of the roster (ask before counting)."""
        return any(self.suggestions.get(name) for name in self.unknown)


def _near(a: str, b: str) -> bool:
    """Names that differ by one character of the same length, or by one missing character."""
    if a == b:
        return True
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1 and len(a) >= 2
    short, long = sorted((a, b), key=len)
    if len(long) - len(short) != 1 or len(short) < 2:
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def match_speakers(typed: Iterable[str], people: Iterable[RosterPerson]) -> SpeakerMatch:
    """Match typed speaker names to the unit's people (R8–R10 count only roster members).

    Titles and honorifics are stripped first; a name that still matches nobody gets the
    unit's people whose names are one character away as suggestions, to ask about."""
    roster = list(people)
    by_name = {person.name: person for person in roster}
    matched: list[tuple[str, RosterPerson]] = []
    unknown: list[str] = []
    suggestions: dict[str, tuple[RosterPerson, ...]] = {}
    for text in typed:
        name = strip_speaker_title(text)
        person = by_name.get(name) or by_name.get(text)
        if person is not None:
            if all(p.userid != person.userid for _, p in matched):
                matched.append((text, person))
            continue
        unknown.append(text)
        near = tuple(p for p in roster if _near(name, p.name))
        if near:
            suggestions[text] = near
    return SpeakerMatch(tuple(matched), tuple(unknown), suggestions)
