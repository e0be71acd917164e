"""The roster file: parsing, row validation and the R4 checks (R4, R5, R6)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liuan_bot.domain.roles import Role
from liuan_bot.domain.roster import (
    ROSTER_HEADER,
    RosterProblem,
    RosterRow,
    UnitType,
    parse_roster_csv,
    parse_unit_type,
    r4_warnings,
)

DEMO_ROSTER = Path(__file__).resolve().parents[2] / "config" / "demo-roster.csv"

HEADER = ",".join(ROSTER_HEADER)


def csv_bytes(*lines: str, bom: bool = False) -> bytes:
    text = "\n".join([HEADER, *lines]) + "\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def row(
    unit: str = "市教育局",
    unit_type: str = "市直部门",
    key: str = "否",
    name: str = "王伟",
    userid: str = "wangwei",
    roles: str = "联络员",
    title: str = "办公室主任",
    mobile: str = "",
    public: str = "否",
) -> str:
    return ",".join([unit, unit_type, key, name, userid, roles, title, mobile, public])


def errors_by_line(data: bytes) -> dict[int | None, list[str]]:
    found: dict[int | None, list[str]] = {}
    for problem in parse_roster_csv(data).errors:
        found.setdefault(problem.line, []).append(problem.message)
    return found


def only_row(data: bytes) -> RosterRow:
    result = parse_roster_csv(data)
    assert result.errors == ()
    assert len(result.rows) == 1
    return result.rows[0]


# --- encoding and header -------------------------------------------------------------------


@pytest.mark.parametrize("bom", [False, True])
def test_utf8_file_parses_with_or_without_bom(bom: bool) -> None:
    data = csv_bytes(
        row(key="是", name="李明", userid="liming", roles="主要负责人", title="党组书记、局长"),
        row(
            key="是",
            name="张静",
            userid="zhangjing",
            roles="新闻发言人",
            title="党组成员、副局长",
            mobile="13812345678",
            public="是",
        ),
        row(key="是"),
        bom=bom,
    )

    result = parse_roster_csv(data)

    assert result.errors == ()
    assert result.warnings == ()
    assert [r.line for r in result.rows] == [2, 3, 4]
    spokesperson = result.rows[1]
    assert spokesperson == RosterRow(
        line=3,
        unit="市教育局",
        unit_type=UnitType.CITY_DEPARTMENT,
        key_unit=True,
        name="张静",
        userid="zhangjing",
        roles=frozenset({Role.SPOKESPERSON}),
        title="党组成员、副局长",
        mobile="13812345678",
        public=True,
    )


def test_crlf_line_endings_from_excel_are_accepted() -> None:
    data = ("\ufeff" + HEADER + "\r\n" + row() + "\r\n").encode()

    assert only_row(data).line == 2


def test_non_utf8_file_is_rejected_with_a_hint_to_save_as_csv_utf8() -> None:
    data = (HEADER + "\n" + row() + "\n").encode("gbk")

    result = parse_roster_csv(data)

    assert result.rows == ()
    assert len(result.errors) == 1
    assert result.errors[0].line is None
    assert "UTF-8" in result.errors[0].message
    assert "CSV UTF-8" in result.errors[0].message


@pytest.mark.parametrize(
    "header",
    [
        "单位,单位类型,重点单位,姓名,企业微信账号,角色,职务,手机",  # missing
        HEADER + ",备注",  # extra
        "单位类型,单位,重点单位,姓名,企业微信账号,角色,职务,手机,公开",  # misordered
        "单位;单位类型;重点单位;姓名;企业微信账号;角色;职务;手机;公开",  # wrong separator
    ],
)
def test_wrong_header_is_one_error_naming_the_expected_header(header: str) -> None:
    data = (header + "\n" + row() + "\n").encode()

    result = parse_roster_csv(data)

    assert result.rows == ()
    assert len(result.errors) == 1
    assert result.errors[0].line == 1
    assert HEADER in result.errors[0].message


def test_header_cells_are_trimmed_and_trailing_empty_cells_ignored() -> None:
    header = " 单位 ,单位类型,\u3000重点单位,姓名,企业微信账号,角色,职务,手机,公开,,"
    data = ("\ufeff" + header + "\n" + row() + "\n").encode()

    assert only_row(data).userid == "wangwei"


def test_empty_file_is_an_error() -> None:
    result = parse_roster_csv(b"")

    assert result.rows == ()
    assert len(result.errors) == 1
    assert "表头" in result.errors[0].message


def test_header_without_people_is_an_error() -> None:
    result = parse_roster_csv(csv_bytes())

    assert len(result.errors) == 1
    assert "没有人员" in result.errors[0].message


# --- rows ----------------------------------------------------------------------------------


def test_blank_lines_are_skipped_but_still_counted_in_line_numbers() -> None:
    data = csv_bytes(
        "", row(), ",,,,,,,,", "  ", row(name="李明", userid="liming", roles="联络员")
    )

    result = parse_roster_csv(data)

    assert result.errors == ()
    assert [r.line for r in result.rows] == [3, 6]


def test_cells_are_trimmed_including_full_width_spaces() -> None:
    parsed = only_row(
        csv_bytes(
            row(
                unit="\u3000市教育局 ",
                unit_type=" 市直部门\u3000",
                key=" 否",
                name="\u3000王伟\u3000",
                userid=" wangwei ",
                roles=" 联络员 ",
                title=" 办公室主任\u3000",
                mobile=" 13812345678 ",
                public="\u3000否",
            )
        )
    )

    assert (parsed.unit, parsed.name, parsed.userid, parsed.title, parsed.mobile) == (
        "市教育局",
        "王伟",
        "wangwei",
        "办公室主任",
        "13812345678",
    )


def test_chinese_name_padded_with_spaces_for_alignment_is_joined() -> None:
    assert only_row(csv_bytes(row(name="王\u3000\u3000伟"))).name == "王伟"


@pytest.mark.parametrize(("cell", "column"), [(0, "单位"), (3, "姓名"), (4, "企业微信账号")])
def test_empty_required_cell_is_an_error_on_its_line(cell: int, column: str) -> None:
    cells = row().split(",")
    cells[cell] = " "
    data = csv_bytes(row(userid="first"), ",".join(cells))

    errors = errors_by_line(data)

    assert list(errors) == [3]
    assert any(column in message and "不能为空" in message for message in errors[3])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("市直部门", UnitType.CITY_DEPARTMENT),
        ("市直", UnitType.CITY_DEPARTMENT),
        ("县区", UnitType.COUNTY),
        ("县", UnitType.COUNTY),
        ("区", UnitType.COUNTY),
        ("县区政府", UnitType.COUNTY),
        ("开发区", UnitType.DEV_ZONE),
        ("新闻办", UnitType.NEWS_OFFICE),
        ("新闻单位", UnitType.NEWS_UNIT),
        ("媒体", UnitType.NEWS_UNIT),
        ("其他", UnitType.OTHER),
        (" 县\u3000", UnitType.COUNTY),
        ("乡镇", None),
        ("", None),
    ],
)
def test_unit_type_names_and_aliases(text: str, expected: UnitType | None) -> None:
    assert parse_unit_type(text) is expected


def test_unknown_unit_type_is_an_error_naming_it() -> None:
    errors = errors_by_line(csv_bytes(row(unit_type="乡镇")))

    assert list(errors) == [2]
    assert "乡镇" in errors[2][0]
    assert "市直部门" in errors[2][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("是", True),
        ("否", False),
        ("Y", True),
        ("y", True),
        ("N", False),
        ("1", True),
        ("0", False),
        ("true", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("", False),
    ],
)
def test_r6_key_unit_and_public_accept_yes_no_spellings(text: str, expected: bool) -> None:
    parsed = only_row(csv_bytes(row(key=text, public=text, roles="联络员;新闻发言人")))

    assert parsed.key_unit is expected
    assert parsed.public is expected


@pytest.mark.parametrize(("cell", "column"), [(2, "重点单位"), (8, "公开")])
def test_unknown_yes_no_value_is_an_error(cell: int, column: str) -> None:
    cells = row().split(",")
    cells[cell] = "可能"
    errors = errors_by_line(csv_bytes(",".join(cells)))

    assert list(errors) == [2]
    assert column in errors[2][0]
    assert "可能" in errors[2][0]


@pytest.mark.parametrize("separator", [";", "；", "、", "/", " ", "\u3000", " ; "])
def test_roles_are_separated_by_any_accepted_separator(separator: str) -> None:
    roles = separator.join(["主要负责人", "发言人", "联络员"])

    parsed = only_row(csv_bytes(row(roles=roles)))

    assert parsed.roles == {Role.MAIN_LEADER, Role.SPOKESPERSON, Role.LIAISON}


@pytest.mark.parametrize(
    ("alias", "role"),
    [
        ("发言人", Role.SPOKESPERSON),
        ("主要领导", Role.MAIN_LEADER),
        ("负责人", Role.MAIN_LEADER),
        ("新闻办公室", Role.NEWS_OFFICE),
        ("公开办", Role.DISCLOSURE_OFFICE),
        ("审批人", Role.APPROVER),
        ("编辑", Role.CHANNEL_EDITOR),
    ],
)
def test_role_aliases_are_accepted(alias: str, role: Role) -> None:
    assert only_row(csv_bytes(row(roles=f"联络员；{alias}"))).roles == {Role.LIAISON, role}


def test_quoted_cells_are_read_without_their_quotes() -> None:
    parsed = only_row(csv_bytes(row(roles='"新闻发言人;联络员"')))

    assert parsed.roles == {Role.SPOKESPERSON, Role.LIAISON}


def test_every_unknown_role_is_named_in_the_error() -> None:
    errors = errors_by_line(csv_bytes(row(roles="联络员;处长、宣传员")))

    assert list(errors) == [2]
    assert "“处长”" in errors[2][0]
    assert "“宣传员”" in errors[2][0]
    assert "“联络员”" not in errors[2][0].split("可填")[0]


def test_empty_roles_cell_is_an_error() -> None:
    errors = errors_by_line(csv_bytes(row(roles="")))

    assert list(errors) == [2]
    assert "角色" in errors[2][0]


@pytest.mark.parametrize(
    "userid", ["wangwei", "Wang.Wei-2", "wang_wei", "wangwei@liuan", "a", "x" * 64, "13812345678"]
)
def test_valid_wecom_userids_are_accepted(userid: str) -> None:
    assert only_row(csv_bytes(row(userid=userid))).userid == userid


@pytest.mark.parametrize("userid", ["王伟", "wang wei", "wang#wei", "ｗａｎｇ", "x" * 65])
def test_invalid_wecom_userid_is_an_error(userid: str) -> None:
    errors = errors_by_line(csv_bytes(row(userid=userid)))

    assert list(errors) == [2]
    assert "企业微信账号" in errors[2][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("138\u30001234\u30005678", "13812345678"),
        ("138－1234－5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("", ""),
    ],
)
def test_mobile_is_normalised(text: str, expected: str) -> None:
    assert only_row(csv_bytes(row(mobile=text))).mobile == expected


@pytest.mark.parametrize(
    "text", ["1381234567", "138123456789", "23812345678", "0564-3371234", "1.38123E+10", "电话"]
)
def test_invalid_mobile_is_an_error(text: str) -> None:
    errors = errors_by_line(csv_bytes(row(mobile=text)))

    assert list(errors) == [2]
    assert "手机号" in errors[2][0]
    assert text in errors[2][0]


def test_duplicate_userid_is_an_error_on_the_later_line_naming_the_earlier() -> None:
    data = csv_bytes(
        row(userid="wangwei"),
        row(name="李明", userid="liming"),
        row(name="王伟", userid="WangWei"),
        row(name="王伟", userid="wangwei"),
    )

    errors = errors_by_line(data)

    assert list(errors) == [4, 5]
    assert "第2行" in errors[4][0]
    assert "第2行" in errors[5][0]


def test_unit_with_different_unit_types_is_an_error_naming_the_first_line() -> None:
    data = csv_bytes(row(), row(name="李明", userid="liming", unit_type="县区"))

    errors = errors_by_line(data)

    assert list(errors) == [3]
    assert "市教育局" in errors[3][0]
    assert "第2行" in errors[3][0]
    assert "县区" in errors[3][0]


def test_unit_with_different_key_unit_flags_is_an_error_naming_the_first_line() -> None:
    data = csv_bytes(
        row(key="是", roles="新闻发言人;联络员"), row(name="李明", userid="liming", key="否")
    )

    errors = errors_by_line(data)

    assert list(errors) == [3]
    assert "重点单位" in errors[3][0]
    assert "第2行" in errors[3][0]


def test_row_with_too_many_columns_is_an_error() -> None:
    errors = errors_by_line(csv_bytes(row(title="办公室主任,宣传科科长")))

    assert list(errors) == [2]
    assert "10 列" in errors[2][0]


def test_row_with_too_few_columns_is_an_error() -> None:
    errors = errors_by_line(csv_bytes("市教育局,市直部门,否,王伟,wangwei,联络员"))

    assert list(errors) == [2]
    assert "6 列" in errors[2][0]


def test_repeated_header_row_is_an_error() -> None:
    errors = errors_by_line(csv_bytes(row(), HEADER))

    assert list(errors) == [3]
    assert "表头" in errors[3][0]


def test_all_invalid_rows_are_reported_together_and_valid_rows_kept() -> None:
    data = csv_bytes(
        row(userid="ok1"),
        row(userid="bad one"),
        row(name="李明", userid="ok2"),
        "",
        row(unit="", userid="ok3"),
        row(userid="ok4", mobile="123", roles="处长", public="也许"),
        row(userid="ok1"),
    )

    result = parse_roster_csv(data)

    assert sorted({p.line for p in result.errors if p.line is not None}) == [3, 6, 7, 8]
    assert len([p for p in result.errors if p.line == 7]) == 3
    assert [r.userid for r in result.rows] == ["ok1", "ok2"]
    assert [p.line for p in result.errors] == sorted(p.line or 0 for p in result.errors)
    assert not result.ok


def test_problem_text_starts_with_the_line_number() -> None:
    assert str(RosterProblem(5, "“姓名”不能为空。")) == "第5行：“姓名”不能为空。"
    assert str(RosterProblem(None, "文件为空。")) == "文件为空。"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(UnitType)),
            st.booleans(),
            st.text(alphabet="王李张伟明静国", min_size=1, max_size=4),
            st.frozensets(st.sampled_from(list(Role)), min_size=1),
            st.text(alphabet="局长副主任科 、", max_size=8),
            st.one_of(st.just(""), st.from_regex(r"1[3589][0-9]{9}", fullmatch=True)),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_rows_written_by_a_csv_writer_read_back_unchanged(
    people: list[tuple[UnitType, bool, str, frozenset[Role], str, str, bool]],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ROSTER_HEADER)
    expected = []
    for index, (unit_type, key, name, roles, title, mobile, public) in enumerate(people):
        unit = f"单位{index}"
        userid = f"user{index}"
        role_text = "、".join(sorted(roles))
        writer.writerow(
            [unit, unit_type, "是" if key else "否", name, userid, role_text, title, mobile]
            + ["是" if public else "否"]
        )
        expected.append(
            RosterRow(
                line=index + 2,
                unit=unit,
                unit_type=unit_type,
                key_unit=key,
                name=name,
                userid=userid,
                roles=roles,
                title=title.strip(),
                mobile=mobile,
                public=public,
            )
        )

    result = parse_roster_csv(("\ufeff" + out.getvalue()).encode())

    assert result.errors == ()
    assert list(result.rows) == expected


# --- R4 ------------------------------------------------------------------------------------


def person(
    unit: str,
    userid: str,
    *roles: Role,
    unit_type: UnitType = UnitType.CITY_DEPARTMENT,
    key_unit: bool = False,
) -> RosterRow:
    return RosterRow(
        line=0,
        unit=unit,
        unit_type=unit_type,
        key_unit=key_unit,
        name=userid,
        userid=userid,
        roles=frozenset(roles),
        title="",
        mobile="",
        public=False,
    )


def test_r4_unit_with_three_spokespersons_is_warned() -> None:
    data = csv_bytes(
        row(name="甲", userid="a", roles="新闻发言人"),
        row(name="乙", userid="b", roles="新闻发言人"),
        row(name="丙", userid="c", roles="发言人;联络员"),
    )

    result = parse_roster_csv(data)

    assert result.errors == ()
    assert len(result.rows) == 3
    assert len(result.warnings) == 1
    message = result.warnings[0].message
    assert "市教育局" in message
    assert "3 名新闻发言人" in message
    assert "甲、乙、丙" in message


def test_r4_unit_with_two_spokespersons_is_not_warned() -> None:
    data = csv_bytes(
        row(key="是", name="甲", userid="a", roles="新闻发言人"),
        row(key="是", name="乙", userid="b", roles="新闻发言人;联络员"),
    )

    assert parse_roster_csv(data).warnings == ()


def test_r4_key_unit_without_spokesperson_is_warned() -> None:
    data = csv_bytes(row(key="是", roles="联络员"), row(key="否", unit="市统计局", userid="x"))

    result = parse_roster_csv(data)

    assert result.errors == ()
    assert [w.message for w in result.warnings] == [
        "重点单位“市教育局”没有新闻发言人，按规定应确定 1–2 名。"
    ]


@pytest.mark.parametrize("unit_type", ["市直部门", "县区", "开发区"])
def test_r4_department_county_or_zone_without_liaison_is_warned(unit_type: str) -> None:
    data = csv_bytes(row(unit="金安区", unit_type=unit_type, roles="新闻发言人"))

    result = parse_roster_csv(data)

    assert result.errors == ()
    assert len(result.warnings) == 1
    assert "金安区" in result.warnings[0].message
    assert "联络员" in result.warnings[0].message


@pytest.mark.parametrize("unit_type", ["新闻办", "新闻单位", "其他"])
def test_r4_news_office_news_unit_and_other_need_no_liaison(unit_type: str) -> None:
    data = csv_bytes(row(unit="皖西日报社", unit_type=unit_type, roles="渠道编辑"))

    assert parse_roster_csv(data).warnings == ()


def test_r4_units_with_invalid_rows_get_no_warnings() -> None:
    # The liaison's row is invalid; "no liaison" would only repeat that error.
    data = csv_bytes(
        row(key="是", name="甲", userid="a", roles="新闻发言人"),
        row(key="是", name="乙", userid="b", roles="联络员", mobile="123"),
    )

    result = parse_roster_csv(data)

    assert [p.line for p in result.errors] == [3]
    assert result.warnings == ()


def test_r4_warnings_over_a_whole_roster_name_each_unit_in_order() -> None:
    rows = [
        person("市教育局", "a", Role.SPOKESPERSON, key_unit=True),
        person("市教育局", "b", Role.SPOKESPERSON),
        person("市教育局", "c", Role.SPOKESPERSON, Role.LIAISON),
        person("市财政局", "d", Role.LIAISON, key_unit=True),
        person("霍山县", "e", Role.MAIN_LEADER, unit_type=UnitType.COUNTY),
        person("六安经济技术开发区", "f", Role.SPOKESPERSON, unit_type=UnitType.DEV_ZONE),
        person("皖西日报社", "g", Role.CHANNEL_EDITOR, unit_type=UnitType.NEWS_UNIT),
        person("市统计局", "h", Role.LIAISON),
    ]

    warnings = r4_warnings(rows)

    assert all(w.line is None for w in warnings)
    assert [w.message for w in warnings] == [
        "单位“市教育局”有 3 名新闻发言人（a、b、c），按规定应为 1–2 名。",
        "重点单位“市财政局”没有新闻发言人，按规定应确定 1–2 名。",
        "单位“霍山县”没有联络员，按规定应确定 1 名联络员。",
        "单位“六安经济技术开发区”没有联络员，按规定应确定 1 名联络员。",
    ]


# --- the demo roster -----------------------------------------------------------------------


def test_r4_demo_roster_parses_without_errors_or_warnings() -> None:
    result = parse_roster_csv(DEMO_ROSTER.read_bytes())

    assert [str(p) for p in result.errors] == []
    assert [str(p) for p in result.warnings] == []
    assert len(result.rows) >= 100
    assert 30 <= len({r.unit for r in result.rows}) <= 40


def test_demo_roster_has_the_demo_accounts() -> None:
    rows = {r.userid: r for r in parse_roster_csv(DEMO_ROSTER.read_bytes()).rows}

    demo = rows["demo"]
    assert (demo.name, demo.unit) == ("张演示", "市财政局")
    assert demo.roles == {Role.SPOKESPERSON, Role.LIAISON}
    news_office = rows["newsoffice"]
    assert (news_office.name, news_office.unit) == ("李新闻", "市政府新闻办")
    assert Role.NEWS_OFFICE in news_office.roles
    approver = rows["approver"]
    assert (approver.name, approver.unit) == ("王审批", "市政府办公室")
    assert Role.APPROVER in approver.roles


def test_r6_demo_roster_publishes_every_spokesperson() -> None:
    rows = parse_roster_csv(DEMO_ROSTER.read_bytes()).rows

    assert all(r.public for r in rows if Role.SPOKESPERSON in r.roles)


def test_demo_roster_has_about_twenty_key_units_and_every_unit_type() -> None:
    rows = parse_roster_csv(DEMO_ROSTER.read_bytes()).rows

    assert 15 <= len({r.unit for r in rows if r.key_unit}) <= 25
    assert {r.unit_type for r in rows} == set(UnitType)
