"""政策 (R18), 风险评估 (R13), 报送发言人 (R4, R5) and 培训 (R7), over encrypted callbacks."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from sqlmodel import SQLModel, col, select

from handlers import policies, roster
from liuan_bot.domain.roles import UNIT_ROLES, Role
from storage.engine import transaction
from storage.roster_store import unit_id
from storage.tables import AuditEntry, Person, Policy, RiskAssessment, RosterFiling, Training
from tests.support import Harness

T = TypeVar("T", bound=SQLModel)

NEWS_OFFICE = ("baochuanhua", "caozhiqiang", "chenshulin", "newsoffice")
POLICY = "政策\n标题：《六安市促进民营经济高质量发展若干政策》\n公布时间：12月10日上午9点\n"
RISK = "风险评估\n事项：中心城区义务教育学区划分调整\n类型：政策\n等级：高风险\n"
ROSTER = "报送发言人\n姓名：鲍克勤\n职务：党组成员、副局长\n手机：155-8001 6356\n"


async def reply(harness: Harness, user: str, text: str) -> str:
    status, answer = await harness.send_text(user, text)
    assert status == 200
    assert answer is not None
    return answer


async def rows(harness: Harness, table: type[T]) -> list[T]:
    async with harness.bot.deps.sessions() as session:
        return list((await session.exec(select(table))).all())


async def audited(harness: Harness, action: str) -> list[AuditEntry]:
    async with harness.bot.deps.sessions() as session:
        query = select(AuditEntry).where(col(AuditEntry.action) == action)
        return list((await session.exec(query)).all())


async def person(harness: Harness, userid: str) -> Person:
    async with harness.bot.deps.sessions() as session:
        query = select(Person).where(col(Person.userid) == userid)
        return (await session.exec(query)).one()


async def pushed(harness: Harness, user: str) -> list[str]:
    await harness.deliver_outbox()
    return harness.fake.texts_to(user)


# --- 政策 (R18) ----------------------------------------------------------------------------


async def test_r18_policy_filing_gets_an_id_and_the_pending_interpretation_duty(
    harness: Harness,
) -> None:
    text = await reply(harness, "demo", POLICY + "解读：待定\n吹风会：是")
    assert "已备案政策文件 ZC-2026-0001" in text
    assert "《六安市促进民营经济高质量发展若干政策》" in text
    assert "公布时间：12月10日（周四）09:00" in text
    assert "解读待定：请在公布前准备好解读材料，公布时同步发布" in text
    assert "申请发布会 类型：吹风会" in text
    [row] = await rows(harness, Policy)
    assert (row.record_id, row.state, row.filer) == ("ZC-2026-0001", "filed", "demo")
    assert (row.interpretation_url, row.briefing) == ("", True)
    assert row.title == "六安市促进民营经济高质量发展若干政策"
    for user in NEWS_OFFICE:
        [note] = await pushed(harness, user)
        assert note.startswith("【政策文件备案】市财政局 ZC-2026-0001")
        assert "报送人：张演示" in note
    [entry] = await audited(harness, "policy_file")
    assert (entry.actor, entry.record_id, entry.new_state) == ("demo", "ZC-2026-0001", "filed")


async def test_r18_policy_with_an_interpretation_link_is_to_be_published_alongside(
    harness: Harness,
) -> None:
    await reply(harness, "demo", POLICY)
    link = "https://www.luan.gov.cn/zcjd/456.html"
    text = await reply(
        harness, "zhengxuejun", f"政策文件 标题：城市更新办法 时间：12月15日 解读：{link}"
    )
    assert "ZC-2026-0002" in text
    assert "（大致时间）" in text
    assert "同步在市政府网站、本部门网站和媒体发布" in text
    assert "解读待定" not in text
    stored = {r.record_id: r for r in await rows(harness, Policy)}
    assert stored["ZC-2026-0001"].interpretation_url == ""
    assert stored["ZC-2026-0002"].interpretation_url == link
    assert stored["ZC-2026-0002"].briefing is False


async def test_r18_policy_missing_fields_are_all_listed_with_an_example(harness: Harness) -> None:
    text = await reply(harness, "demo", "政策 解读：待定")
    assert "还缺少：标题、公布时间。" in text
    # issue 9 E2: the sender's own message comes back, the missing fields marked
    assert "请改正后重新发送：\n政策\n标题：（请填写，例如 六安市促进民营经济" in text
    assert "解读：待定" in text
    assert await rows(harness, Policy) == []


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        # a past publication time is a late filing now (issue 9 A3: tests/handlers/
        # test_records_issue9.py), no longer refused
        ("下周八", "没看懂时间"),
    ],
)
async def test_r18_a_past_or_unreadable_publication_time_is_refused(
    harness: Harness, when: str, expected: str
) -> None:
    text = await reply(harness, "demo", f"政策 标题：某政策 公布时间：{when}")
    assert expected in text
    assert await rows(harness, Policy) == []
    assert await pushed(harness, "newsoffice") == []


async def test_r18_an_interpretation_that_is_not_a_link_is_refused(harness: Harness) -> None:
    text = await reply(harness, "demo", POLICY + "解读：见附件")
    assert "解读：请填写网页链接" in text
    assert "解读：（请改正：" in text  # issue 9 E2: the field to fix, in their message
    assert await rows(harness, Policy) == []


async def test_r18_policy_is_filed_by_the_owning_unit_not_by_the_news_office(
    harness: Harness,
) -> None:
    text = await reply(harness, "newsoffice", POLICY)
    assert "“政策”仅限" in text
    assert await rows(harness, Policy) == []


# --- 风险评估 (R13) ------------------------------------------------------------------------


async def test_r13_risk_assessment_reaches_every_news_office_member(harness: Harness) -> None:
    text = await reply(harness, "demo", RISK + "措施：提前发布政策解读，开通咨询热线")
    assert text.startswith("已向市政府新闻办函告风险评估 FX-2026-0001（高风险")
    for user in NEWS_OFFICE:
        [letter] = await pushed(harness, user)
        assert letter.startswith("【高风险】风险评估函告 FX-2026-0001")
        assert "市财政局对以下事项进行了风险评估，特此函告。" in letter
        assert "事项：中心城区义务教育学区划分调整" in letter
        assert "类型：重大政策" in letter
        assert "风险等级：高" in letter
        assert "应对措施：提前发布政策解读，开通咨询热线" in letter
        assert "报送人：张演示（办公室主任）" in letter
    assert await pushed(harness, "approver") == []
    [row] = await rows(harness, RiskAssessment)
    assert (row.record_id, row.kind, row.level, row.state) == (
        "FX-2026-0001",
        "重大政策",
        "高",
        "filed",
    )
    assert [e.record_id for e in await audited(harness, "risk_notify")] == ["FX-2026-0001"]


async def test_r13_a_medium_risk_letter_is_not_marked_urgent(harness: Harness) -> None:
    text = await reply(
        harness, "yudawei", "风险评估 事项：春节烟花爆竹燃放管理 类型：敏感 等级：中"
    )
    assert "FX-2026-0001" in text
    assert "高风险" not in text
    [letter] = await pushed(harness, "newsoffice")
    assert letter.startswith("【风险评估函告】FX-2026-0001")
    assert "【高风险】" not in letter
    assert "市司法局" in letter
    assert "类型：敏感事项" in letter
    assert "应对措施：未填写" in letter


async def test_r13_high_risk_without_measures_gets_a_nudge(harness: Harness) -> None:
    text = await reply(harness, "demo", RISK)
    assert "高风险事项还没写应对措施" in text


async def test_r13_missing_fields_are_all_listed_with_an_example(harness: Harness) -> None:
    text = await reply(harness, "demo", "风险评估 措施：加强舆情监测")
    assert "还缺少：事项、类型、等级。" in text
    assert "风险评估\n事项：（请填写，例如 中心城区义务教育学区划分调整）\n类型：（请填写" in text
    assert text.endswith("\n措施：加强舆情监测")  # issue 9 E2: their own text kept
    assert await rows(harness, RiskAssessment) == []


async def test_r13_unknown_kind_and_level_are_refused_naming_the_choices(
    harness: Harness,
) -> None:
    text = await reply(harness, "demo", "风险评估 事项：某事项 类型：一般事项 等级：很高")
    assert "类型：只能是重大政策、重大举措、重大活动、敏感事项之一，收到的是“一般事项”" in text
    assert "等级：只能是高、中、低之一，收到的是“很高”" in text
    assert await rows(harness, RiskAssessment) == []
    assert await pushed(harness, "newsoffice") == []


async def test_r13_risk_letters_come_from_units_not_from_the_approver(harness: Harness) -> None:
    text = await reply(harness, "approver", RISK)
    assert "“风险评估”仅限" in text
    assert await rows(harness, RiskAssessment) == []


# --- 报送发言人 (R4, R5) --------------------------------------------------------------------


async def test_r5_liaison_files_this_years_spokesperson_with_a_tolerant_mobile(
    harness: Harness,
) -> None:
    text = await reply(harness, "demo", ROSTER + "企业微信账号：baokeqin")
    assert text.startswith("已报送市财政局2026年度新闻发言人（1位）")
    assert "鲍克勤（党组成员、副局长），手机 15580016356，企业微信账号 baokeqin" in text
    assert "已替换" not in text
    assert "两位发言人请在同一条消息里各写一组" in text
    [row] = await rows(harness, RosterFiling)
    assert (row.year, row.name, row.title, row.mobile) == (
        2026,
        "鲍克勤",
        "党组成员、副局长",
        "15580016356",
    )
    assert (row.userid, row.filer) == ("baokeqin", "demo")
    [note] = await pushed(harness, "caozhiqiang")
    assert note.startswith("【发言人报送】市财政局 2026年度新闻发言人")
    assert "报送人：张演示" in note
    assert len(await audited(harness, "roster_file")) == 1
    assert await audited(harness, "grant_role") == []  # already a spokesperson


async def test_r5_a_new_filing_replaces_the_units_earlier_filing_of_the_year(
    harness: Harness,
) -> None:
    await reply(harness, "demo", ROSTER)
    text = await reply(
        harness, "zhengxuejun", "报送发言人 姓名：张演示 职务：办公室主任 手机：13955640001"
    )
    assert "已替换本年度此前报送的名单（鲍克勤）" in text
    assert [r.name for r in await rows(harness, RosterFiling)] == ["张演示"]
    notes = await pushed(harness, "newsoffice")
    assert notes[-1].startswith("【发言人报送（更新）】市财政局")
    [_, second] = await audited(harness, "roster_file")
    assert (second.old_state, second.new_state) == ("filed", "filed")
    assert second.detail["replaced"] == ["鲍克勤"]


@pytest.mark.parametrize(
    "second",
    [
        "\n报送发言人 姓名：张演示 职务：办公室主任 手机：139 5564 0001 企业微信账号：demo",
        "\n\n姓名：张演示\n职务：办公室主任\n手机：139-5564-0001\n企业微信账号：demo",
        " 报送发言人：姓名：张演示 职务：办公室主任 手机：13955640001 企业微信账号：demo",
    ],
    ids=["command-repeated-on-a-new-line", "second-group", "command-repeated-on-one-line"],
)
async def test_r4_two_spokespersons_are_filed_in_one_message_as_two_groups(
    harness: Harness, second: str
) -> None:
    first = "报送发言人 姓名：鲍克勤 职务：党组成员、副局长 手机：155-8001 6356"
    text = await reply(harness, "demo", first + second)
    assert "（2位）" in text
    assert "提示" not in text
    stored = sorted((r.name, r.mobile, r.userid) for r in await rows(harness, RosterFiling))
    assert stored == [("张演示", "13955640001", "demo"), ("鲍克勤", "15580016356", "")]


async def test_r4_more_than_two_spokespersons_are_refused_citing_r4(harness: Harness) -> None:
    text = await reply(
        harness,
        "demo",
        ROSTER
        + "姓名：张演示 职务：主任 手机：13955640001\n姓名：郑学军 职务：局长 手机：15264788318",
    )
    assert "R4" in text
    assert "1–2名新闻发言人" in text
    assert "这次报送了3位（鲍克勤、张演示、郑学军）" in text
    assert await rows(harness, RosterFiling) == []


async def test_r4_two_names_in_one_group_are_refused_with_a_hint(harness: Harness) -> None:
    text = await reply(
        harness, "demo", "报送发言人 姓名：鲍克勤、张演示 职务：副局长 手机：15580016356"
    )
    assert "一组只能写一位发言人（收到：鲍克勤、张演示）" in text
    assert "每组以“姓名”开头" in text
    assert await rows(harness, RosterFiling) == []


async def test_r5_missing_fields_are_all_listed_with_an_example(harness: Harness) -> None:
    text = await reply(harness, "demo", "报送发言人 姓名：鲍克勤")
    assert "还缺少：职务、手机。" in text
    assert "报送发言人\n姓名：鲍克勤\n职务：（请填写，例如 党组成员、副局长）" in text
    assert await rows(harness, RosterFiling) == []


async def test_r5_a_bad_mobile_and_a_bad_account_are_refused_together(harness: Harness) -> None:
    text = await reply(
        harness,
        "demo",
        "报送发言人 姓名：鲍克勤 职务：副局长 手机：1558001635 企业微信账号：鲍克勤",
    )
    assert "手机号“1558001635”不对，应为以 1 开头的 11 位数字" in text
    assert "企业微信账号“鲍克勤”含有不允许的字符" in text
    assert await rows(harness, RosterFiling) == []


async def test_r5_a_problem_in_the_second_group_names_that_group(harness: Harness) -> None:
    text = await reply(harness, "demo", ROSTER + "姓名：张演示 职务：办公室主任 手机：2395564000")
    assert "第2位：手机号“2395564000”不对" in text
    assert "第1位" not in text


async def test_r5_filing_a_unit_member_makes_them_a_spokesperson_in_the_roster(
    harness: Harness,
) -> None:
    text = await reply(
        harness,
        "demo",
        "报送发言人 姓名：郑学军 职务：党组书记、局长 手机：15264788318 企业微信账号：ZhengXueJun",
    )
    assert "已在名册中为郑学军加上“新闻发言人”角色" in text
    warning = (
        "注意：名册中市财政局现有3名新闻发言人（鲍克勤、张演示、郑学军），按规定（R4）应为1–2名"
    )
    assert warning in text
    [note] = await pushed(harness, "newsoffice")
    assert warning in note
    assert (await person(harness, "zhengxuejun")).roles == ["主要负责人", "新闻发言人"]
    [row] = await rows(harness, RosterFiling)
    assert row.userid == "zhengxuejun"
    [entry] = await audited(harness, "grant_role")
    assert entry.actor == "demo"
    assert entry.detail == {
        "userid": "zhengxuejun",
        "added": "新闻发言人",
        "roles": ["主要负责人"],
    }


async def test_r1_an_account_of_another_unit_is_refused(harness: Harness) -> None:
    text = await reply(
        harness,
        "demo",
        "报送发言人 姓名：刘磊 职务：副主任 手机：15395400580 企业微信账号：liulei",
    )
    assert "企业微信账号 liulei 在名册中是市发展改革委的刘磊，不是本单位人员" in text
    assert await rows(harness, RosterFiling) == []
    assert await audited(harness, "grant_role") == []


async def test_r5_an_account_whose_name_differs_is_refused(harness: Harness) -> None:
    text = await reply(harness, "demo", ROSTER + "企业微信账号：zhengxuejun")
    assert "在名册中是郑学军，与填写的姓名“鲍克勤”不一致" in text
    assert await rows(harness, RosterFiling) == []
    assert (await person(harness, "zhengxuejun")).roles == ["主要负责人"]


async def test_r5_an_account_not_yet_in_the_roster_is_filed_with_a_note(harness: Harness) -> None:
    text = await reply(
        harness,
        "demo",
        "报送发言人 姓名：王新 职务：副局长 手机：13800000000 企业微信账号：wangxin",
    )
    assert "王新的企业微信账号 wangxin 还不在名册中，请联系市政府新闻办登记" in text
    assert [r.userid for r in await rows(harness, RosterFiling)] == ["wangxin"]


async def test_r5_a_spokesperson_alone_may_not_file_the_roster(harness: Harness) -> None:
    text = await reply(harness, "baokeqin", ROSTER)
    assert "“报送发言人”仅限主要负责人、联络员使用" in text
    assert await rows(harness, RosterFiling) == []


# --- 培训 (R7) -----------------------------------------------------------------------------


async def test_r7_news_office_records_training_and_sees_when_the_next_one_is_due(
    harness: Harness,
) -> None:
    text = await reply(
        harness, "newsoffice", "培训 姓名：鲍克勤 日期：11月20日 课程：发言人业务培训"
    )
    assert text.startswith("已登记培训：鲍克勤（市财政局，党组成员、副局长）")
    assert "日期：2026年11月20日" in text
    assert "课程：发言人业务培训" in text
    assert "下次培训应在2029年11月20日前完成（R7：每3年至少一次）" in text
    [row] = await rows(harness, Training)
    assert row.person_id == (await person(harness, "baokeqin")).id
    assert (row.course, row.recorded_by) == ("发言人业务培训", "newsoffice")
    assert len(await audited(harness, "training")) == 1


async def add_namesake(harness: Harness, userid: str, name: str, unit: str) -> None:
    """A second person of the same name (the demo roster has no namesakes)."""
    async with transaction(harness.bot.deps.sessions) as session:
        unit_pk = await unit_id(session, unit)
        assert unit_pk is not None
        now = harness.clock.now()
        session.add(
            Person(
                userid=userid,
                name=name,
                unit_id=unit_pk,
                roles=["新闻发言人"],
                title="党组成员、副局长",
                created_at=now,
                updated_at=now,
            )
        )


async def test_r7_a_shared_name_is_asked_back_listing_units_and_accounts(harness: Harness) -> None:
    await add_namesake(harness, "baokeqin2", "鲍克勤", "市林业局")
    text = await reply(harness, "newsoffice", "培训 姓名：鲍克勤 日期：9月15日")
    assert "名册里有2位“鲍克勤”" in text
    assert "鲍克勤（市财政局，党组成员、副局长），企业微信账号 baokeqin\n" in text
    assert "鲍克勤（市林业局，党组成员、副局长），企业微信账号 baokeqin2" in text
    assert "培训 企业微信账号：baokeqin 日期：9月15日" in text
    assert await rows(harness, Training) == []
    text = await reply(harness, "newsoffice", "培训 企业微信账号：baokeqin2 日期：9月15日")
    assert text.startswith("已登记培训：鲍克勤（市林业局")
    assert "下次培训应在2029年9月15日前完成" in text


async def test_r7_a_person_is_found_by_account_whatever_its_case(harness: Harness) -> None:
    text = await reply(harness, "newsoffice", "培训 企业微信账号：WangLin2 日期：9月15日")
    assert text.startswith("已登记培训：王琳（六安市广播电视台，新闻中心编辑）")
    assert "日期：2026年9月15日" in text


async def test_r7_missing_person_and_date_are_listed_with_an_example(harness: Harness) -> None:
    text = await reply(harness, "newsoffice", "培训 课程：舆情应对")
    assert "还缺少：姓名或企业微信账号、日期。" in text
    assert "培训\n日期：（请填写，例如 11月20日）\n课程：舆情应对" in text  # issue 9 E2


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("姓名：鲍克勤 日期：明天", "这个时间还没到"),
        ("姓名：查无此人 日期：11月20日", "名册里没有叫“查无此人”的人员"),
        ("企业微信账号：nobody 日期：11月20日", "名册里没有企业微信账号 nobody"),
        ("姓名：张演示 企业微信账号：baokeqin 日期：11月20日", "与填写的姓名“张演示”不一致"),
    ],
)
async def test_r7_a_future_date_or_an_unknown_person_is_refused(
    harness: Harness, fields: str, expected: str
) -> None:
    text = await reply(harness, "newsoffice", f"培训 {fields}")
    assert expected in text
    assert await rows(harness, Training) == []


async def test_r7_the_due_date_follows_the_latest_training(harness: Harness) -> None:
    await reply(harness, "newsoffice", "培训 企业微信账号：baokeqin 日期：11月20日")
    text = await reply(harness, "newsoffice", "培训 企业微信账号：baokeqin 日期：2025年3月1日")
    assert "日期：2025年3月1日" in text
    assert "下次培训应在2029年11月20日前完成（按最近一次培训2026年11月20日计算）" in text
    assert len(await rows(harness, Training)) == 2


async def test_r7_the_same_training_is_not_recorded_twice(harness: Harness) -> None:
    message = "培训 企业微信账号：baokeqin 日期：11月20日 课程：发言人业务培训"
    await reply(harness, "newsoffice", message)
    text = await reply(harness, "newsoffice", message)
    assert "已经登记过了" in text
    assert len(await rows(harness, Training)) == 1


async def test_r7_only_the_news_office_records_training(harness: Harness) -> None:
    text = await reply(harness, "demo", "培训 姓名：鲍克勤 日期：11月20日")
    assert "“培训”仅限新闻办使用" in text
    assert await rows(harness, Training) == []


# --- R1: who may use which command ---------------------------------------------------------

# One demo user holding exactly that role; None where the demo roster has none.
DEMO_USER: dict[Role, str | None] = {
    Role.MAIN_LEADER: "zhengxuejun",
    Role.SPOKESPERSON: "baokeqin",
    Role.LIAISON: "yudawei",
    Role.NEWS_OFFICE: "newsoffice",
    Role.DISCLOSURE_OFFICE: "huangting",
    Role.APPROVER: "approver",
    Role.EXPERT: "fengxinmin",
    Role.CHANNEL_EDITOR: "zhushoucheng",
    Role.ADMIN: None,  # only baochuanhua, who is also 新闻办
}
VALID: dict[str, str] = {
    "policy": "政策 标题：测试政策 公布时间：12月10日上午9点",
    "risk": "风险评估 事项：测试事项 类型：重大活动 等级：低",
    "roster": "报送发言人 姓名：测试人 职务：副局长 手机：13800000000",
    "training": "培训 企业微信账号：baokeqin 日期：11月20日",
}


def test_r1_each_filing_command_is_declared_for_the_roles_that_file_it() -> None:
    roles = {spec.key: spec.roles for spec in (*policies.COMMANDS, *roster.COMMANDS)}
    assert roles == {
        "policy": UNIT_ROLES,
        "risk": UNIT_ROLES,
        "roster": frozenset({Role.MAIN_LEADER, Role.LIAISON}),
        "training": frozenset({Role.NEWS_OFFICE}),
    }


@pytest.mark.parametrize("role", list(Role), ids=[r.name for r in Role])
async def test_r1_every_role_is_allowed_or_refused_exactly_as_each_spec_says(
    harness: Harness, role: Role
) -> None:
    user = DEMO_USER[role]
    outcome: dict[str, Any] = {}
    for spec in (*policies.COMMANDS, *roster.COMMANDS):
        allowed = spec.allowed({role})
        if user is None:
            outcome[spec.key] = allowed
            continue
        text = await reply(harness, user, VALID[spec.key])
        refused = f"“{spec.name}”仅限" in text
        assert refused is not allowed, (role, spec.key, text)
        assert text.startswith("已") is allowed, (role, spec.key, text)
        outcome[spec.key] = allowed
    if user is None:  # no demo user: the spec alone decides
        assert not any(outcome.values())


async def test_r18_adding_the_interpretation_link_updates_the_policy_and_stops_reminders(
    harness: Harness,
) -> None:
    from sqlmodel import select

    from storage.tables import Policy

    filed = await reply(
        harness, "demo", "政策 标题：城市更新办法 公布时间：12月10日上午9点 解读：待定"
    )
    assert "ZC-2026-0001" in filed
    updated = await reply(harness, "demo", "政策 zc1 解读：https://www.luan.gov.cn/zcjd/1.html")
    assert "解读材料已登记" in updated
    async with harness.bot.deps.sessions() as session:
        row = (await session.exec(select(Policy))).one()
    assert row.interpretation_url == "https://www.luan.gov.cn/zcjd/1.html"
    assert "只能办理本单位" in await reply(harness, "sunjihong", "政策 ZC-2026-0001 解读：待定")
    assert "请写明要补充" in await reply(harness, "demo", "政策 ZC-2026-0001")
