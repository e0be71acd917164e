"""R8–R14 evaluation, the 4·2·1 board and the accountability list over the seeded year
(tests/fixtures/seed_year.py). Every expected figure is worked out by hand from the story in
that module's docstring."""

from __future__ import annotations

import pytest

from handlers.evaluation import accountability_list, evaluate, quota_board
from liuan_bot.domain.evaluation import (
    AccountabilityEntry,
    Evaluation,
    FailureKind,
    QuotaState,
    UnitEvaluation,
)
from liuan_bot.errors import NotFound, UsageError
from storage.engine import SessionFactory, transaction
from tests.fixtures.seed_year import NOW_END, NOW_MID, seed_year

MET, AT_RISK, MISSED, NA = (
    QuotaState.MET,
    QuotaState.AT_RISK,
    QuotaState.MISSED,
    QuotaState.NOT_ASSESSED,
)


def no_keywords(text: str) -> tuple[str, ...]:
    return ()


@pytest.fixture
async def seeded(sessions: SessionFactory) -> SessionFactory:
    async with transaction(sessions) as session:
        await seed_year(session)
    return sessions


async def _evaluation(sessions: SessionFactory, period: str, **kw: object) -> Evaluation:
    async with transaction(sessions) as session:
        return await evaluate(session, period, NOW_MID, keywords=no_keywords, **kw)  # type: ignore[arg-type]


def _by_unit(evaluation: Evaluation) -> dict[str, UnitEvaluation]:
    return {u.unit: u for u in evaluation.units}


# ------------------------------------------------------------------ the 4·2·1 board


async def test_r8_r9_r10_board_counts_status_forecast_and_the_conferences_that_count(
    seeded: SessionFactory,
) -> None:
    async with transaction(seeded) as session:
        board = await quota_board(session, NOW_MID)
    assert (board.quarter.code, board.half.code, board.year.code) == ("2026Q4", "2026H2", "2026")
    rows = {r.unit: r for r in board.rows}
    got = {
        name: tuple((c.count, c.status, c.record_ids, c.forecast_ids) for c in row.cells)
        for name, row in rows.items()
    }
    assert got["市财政局"] == (
        (1, MET, ("SQ-2026-0002",), ()),
        (1, MET, ("SQ-2026-0002",), ()),
        (1, MET, ("SQ-2026-0001",), ()),
    )
    assert got["市卫生健康委"] == (
        (0, AT_RISK, (), ("SQ-2026-0005",)),
        (1, MET, ("SQ-2026-0004",), ()),
        (0, AT_RISK, (), ("SQ-2026-0005",)),
    )
    # a self-held filing forecasts R8 only; nothing forecasts R9/R10
    assert got["市教育局"] == (
        (0, AT_RISK, (), ("BA-2026-0005",)),
        (0, AT_RISK, (), ()),
        (0, AT_RISK, (), ()),
    )
    assert got["金安区"] == ((0, NA, (), ()), (0, NA, (), ()), (0, NA, (), ()))
    # key units first, then by name
    assert [r.unit for r in board.rows][:3] == ["市卫生健康委", "市教育局", "市财政局"]
    assert rows["市卫生健康委"].quarter.will_meet_if_held
    assert rows["市卫生健康委"].quarter.forecast_label == "已安排 1 场，召开即可完成"
    assert rows["市卫生健康委"].quarter.status_label == "有风险"
    assert not rows["市财政局"].quarter.will_meet_if_held


async def test_the_board_for_one_unit_and_an_unknown_unit(seeded: SessionFactory) -> None:
    async with transaction(seeded) as session:
        board = await quota_board(session, NOW_MID, unit="市财政局")
        assert [r.unit for r in board.rows] == ["市财政局"]
        with pytest.raises(NotFound):
            await quota_board(session, NOW_MID, unit="市不存在局")


# ------------------------------------------------------------------ R14 evaluation, quarter


async def test_r14_evaluation_of_2026q4_every_column_by_hand(seeded: SessionFactory) -> None:
    ev = await _evaluation(seeded, "2026Q4")
    assert ev.label == "2026年第四季度"
    units = _by_unit(ev)
    cz, wj, ja, jy = units["市财政局"], units["市卫生健康委"], units["金安区"], units["市教育局"]

    # R8–R10 and speakers
    assert (cz.held, cz.city_held, cz.self_held) == (("SQ-2026-0002",), 1, 0)
    assert (cz.r8.count, cz.r8.status, cz.r9.count, cz.r9.status) == (1, MET, 1, MET)
    assert (cz.r10.count, cz.r10.status) == (0, MET)  # met by SQ-2026-0001 in February
    assert dict(cz.speakers_by_role) == {"主要负责人": 0, "新闻发言人": 1, "专家": 0, "其他": 0}
    assert (wj.held, wj.r8.status, wj.r9.status, wj.r10.status) == ((), AT_RISK, MET, AT_RISK)
    assert wj.r8.cells[0].forecast_ids == ("SQ-2026-0005",)
    assert (jy.r8.status, jy.r9.status, jy.r10.status) == (AT_RISK, AT_RISK, AT_RISK)
    assert (ja.r8.status, ja.r9.status, ja.r10.status) == (NA, NA, NA)

    # channels R19–R23: newspaper 2 h, portal 24 h, weibo unconfirmed; county notified
    assert (cz.channels_published, cz.channels_expected) == (2, 3)
    assert cz.channel_coverage == pytest.approx(2 / 3)
    assert cz.confirmation_delay_h == 13.0
    assert (wj.channels_expected, wj.channel_coverage, wj.confirmation_delay_h) == (0, None, None)

    # incidents R17: TF-2026-0003 is 16 h old, nothing released
    assert (cz.incidents, cz.first_release_delay_h, cz.incidents_on_time) == (1, None, 0)
    assert (cz.incidents_late, cz.incidents_open) == ((), 1)
    assert wj.incidents == 0

    # policies R18 and risk letters R13
    assert (cz.policies, cz.policies_on_time, cz.policies_late, cz.policies_missing) == (
        1,
        0,
        (),
        (),
    )  # ZC-2026-0004 is not published yet
    assert (wj.policies, wj.policies_on_time, wj.policies_missing) == (1, 0, ("ZC-2026-0002",))
    assert cz.policies_without_risk == ("ZC-2026-0004",)
    assert wj.policies_without_risk == ("ZC-2026-0002",)
    assert (wj.risk_letters, wj.risk_linked) == (1, 0)
    assert (cz.risk_letters, ja.risk_letters) == (0, 0)

    # roster R5, training R7
    assert cz.roster_filed
    assert wj.roster_filed
    assert not ja.roster_filed
    assert not jy.roster_filed
    assert (cz.trained, cz.trainees, cz.untrained) == (1, 2, ("李华",))
    assert (wj.trained, wj.trainees, wj.untrained) == (1, 2, ("赵强",))
    assert (ja.trained, ja.trainees, ja.training_coverage) == (2, 2, 1.0)
    assert (jy.trained, jy.untrained) == (0, ("冯雪", "郑伟"))
    assert units["市政府新闻办"].training_coverage is None

    # plans R12
    assert cz.planned == ("冬季供暖补贴", "年终财政收支")
    assert (cz.planned_held, cz.planned_missing) == (("冬季供暖补贴",), ("年终财政收支",))
    assert (jy.planned, jy.planned_held) == (("开学安全",), ())
    assert wj.planned == ()  # its plan was for Q3


async def test_r14_evaluation_of_the_year_2026(seeded: SessionFactory) -> None:
    units = _by_unit(await _evaluation(seeded, "2026"))
    cz, wj, ja, jy = units["市财政局"], units["市卫生健康委"], units["金安区"], units["市教育局"]
    assert (len(cz.held), cz.city_held, cz.self_held) == (4, 2, 2)
    assert (cz.r8.count, cz.r8.met_periods, cz.r8.status) == (4, 4, MET)
    assert (cz.r9.count, cz.r9.status, cz.r10.count, cz.r10.status) == (2, MET, 1, MET)
    assert dict(cz.speakers_by_role) == {"主要负责人": 1, "新闻发言人": 3, "专家": 0, "其他": 1}
    assert (cz.channels_published, cz.channels_expected, cz.confirmation_delay_h) == (3, 5, 9.0)
    assert (cz.policies, cz.policies_on_time) == (2, 1)
    assert (cz.risk_letters, cz.risk_linked, cz.policies_without_risk) == (1, 1, ("ZC-2026-0004",))

    assert (len(wj.held), wj.city_held, wj.self_held) == (2, 1, 1)
    # Q1 missed, Q2 and Q3 met, Q4 at risk → missed
    assert [c.status for c in wj.r8.cells] == [MISSED, MET, MET, AT_RISK]
    assert (wj.r8.count, wj.r8.status) == (2, MISSED)
    assert (wj.r9.count, wj.r9.status, wj.r10.status) == (1, MISSED, AT_RISK)
    assert dict(wj.speakers_by_role) == {"主要负责人": 0, "新闻发言人": 2, "专家": 0, "其他": 0}
    assert (wj.channels_published, wj.channels_expected, wj.confirmation_delay_h) == (1, 2, 6.0)
    assert wj.channel_coverage == 0.5
    assert (wj.incidents, wj.first_release_delay_h, wj.incidents_on_time) == (1, 2.0, 0)
    assert wj.incidents_late == ("TF-2026-0001",)
    assert wj.policies_missing == ("ZC-2026-0002",)
    assert (wj.planned, wj.planned_held) == (("医保报销",), ("医保报销",))

    assert (len(ja.held), ja.self_held, ja.r8.count, ja.r8.status) == (1, 1, 1, NA)
    assert dict(ja.speakers_by_role)["新闻发言人"] == 1
    assert (ja.incidents, ja.first_release_delay_h, ja.incidents_on_time) == (1, 1.0, 1)
    assert (ja.incidents_late, ja.incidents_open) == ((), 0)
    assert (ja.policies, ja.policies_on_time, ja.policies_late) == (1, 0, ("ZC-2026-0003",))
    assert (ja.risk_letters, ja.risk_linked, ja.policies_without_risk) == (1, 1, ())

    assert (jy.held, jy.r8.status, jy.r9.status) == ((), MISSED, MISSED)
    assert [c.status for c in jy.r8.cells] == [MISSED, MISSED, MISSED, AT_RISK]


async def test_r14_half_year_and_one_unit(seeded: SessionFactory) -> None:
    ev = await _evaluation(seeded, "2026H1", unit="市卫生健康委")
    [wj] = ev.units
    assert ev.label == "2026年上半年"
    assert (wj.held, wj.r8.status, wj.r9.status) == (("BA-2026-0003",), MISSED, MISSED)
    assert [c.period.code for c in wj.r8.cells] == ["2026Q1", "2026Q2"]
    assert wj.policies == 0


async def test_r14_a_period_that_is_not_one_is_a_chinese_usage_error(
    seeded: SessionFactory,
) -> None:
    with pytest.raises(UsageError, match="2026Q4"):
        await _evaluation(seeded, "2026Q5")


async def test_r14_topics_are_jieba_keywords_of_topics_and_contents(
    seeded: SessionFactory,
) -> None:
    async with transaction(seeded) as session:
        ev = await evaluate(session, "2026Q4", NOW_MID, unit="市财政局")
    [cz] = ev.units
    assert cz.keywords, "jieba ranked nothing"
    assert any("供暖" in word or "补贴" in word for word in cz.keywords[:2]), cz.keywords
    assert len(cz.keywords) <= 5


# ------------------------------------------------------------------ R14 accountability


def _key(e: AccountabilityEntry) -> tuple[str, str, str]:
    return (e.unit, e.rule, e.period if e.rule not in ("R17", "R18") else e.records[0])


async def test_r14_accountability_list_mid_year_has_each_kind_present_and_absent(
    seeded: SessionFactory,
) -> None:
    async with transaction(seeded) as session:
        entries = await accountability_list(session, 2026, NOW_MID)
    assert [(e.kind, *_key(e)) for e in entries] == [
        (FailureKind.NOT_RELEASED, "市卫生健康委", "R8", "2026Q1"),
        (FailureKind.NOT_RELEASED, "市卫生健康委", "R9", "2026H1"),
        (FailureKind.NOT_RELEASED, "市教育局", "R8", "2026Q1"),
        (FailureKind.NOT_RELEASED, "市教育局", "R8", "2026Q2"),
        (FailureKind.NOT_RELEASED, "市教育局", "R9", "2026H1"),
        (FailureKind.NOT_RELEASED, "市教育局", "R8", "2026Q3"),
        (FailureKind.NOT_INTERPRETED, "市卫生健康委", "R18", "ZC-2026-0002"),
        (FailureKind.NOT_INTERPRETED, "金安区", "R18", "ZC-2026-0003"),
        (FailureKind.LATE_RESPONSE, "市卫生健康委", "R17", "TF-2026-0001"),
    ]
    # absent: the model unit, a non-key unit's quotas, the incident answered in 14 h, the
    # policy interpreted on time, the still-running year (R10) and the 16-hour-old incident
    assert not [e for e in entries if e.unit == "市财政局"]
    kinds = {e.kind_label for e in entries}
    assert kinds == {"重要信息不发布", "重大政策不解读", "热点回应不及时"}

    r8 = entries[0]
    assert r8.summary == "2026年第一季度未召开新闻发布会（R8）"
    assert r8.recorded_at is not None
    assert r8.recorded_at.astimezone(NOW_MID.tzinfo).month == 4
    assert [r.key for r in r8.reminders] == ["R8|unit:2|2026Q1|d15", "R8|list|2026Q1|missed"]
    d15 = r8.reminders[0]
    got = [(d.name, d.delivered_at is not None, d.acked_at is not None) for d in d15.deliveries]
    assert got == [
        ("孙丽", True, True),
        ("钱敏", True, False),
    ]
    # the news office's missed list names both units: evidence for both
    assert [r.key for r in entries[2].reminders] == ["R8|list|2026Q1|missed"]
    assert entries[4].reminders == ()
    assert entries[4].recorded_at is None

    late = entries[-1]
    assert late.records == ("TF-2026-0001",)
    assert "30" not in late.summary
    assert "9月3日10:00才召开发布会" in late.summary
    assert [r.kind for r in late.reminders] == ["r17_due", "r17_overdue"]
    overdue = late.reminders[1]
    assert [(d.userid, d.acked_at is not None) for d in overdue.deliveries] == [
        ("wj_zhao", False),
        ("xwb_chen", True),
    ]
    assert "至今没有解读材料" in entries[6].summary
    assert [r.kind for r in entries[6].reminders] == ["r18_overdue"]
    assert "7月3日09:00才登记解读材料" in entries[7].summary


async def test_r14_accountability_after_the_year_adds_q4_h2_r10_and_the_late_ones(
    seeded: SessionFactory,
) -> None:
    async with transaction(seeded) as session:
        entries = await accountability_list(session, 2026, NOW_END)
    keys = {_key(e) for e in entries}
    added = {
        ("市卫生健康委", "R8", "2026Q4"),  # SQ-2026-0005 was never held
        ("市卫生健康委", "R10", "2026"),
        ("市教育局", "R8", "2026Q4"),
        ("市教育局", "R9", "2026H2"),
        ("市教育局", "R10", "2026"),
        ("市财政局", "R17", "TF-2026-0003"),
        ("市财政局", "R18", "ZC-2026-0004"),
    }
    assert added <= keys
    assert len(entries) == 9 + len(added)
    assert ("市财政局", "R8", "2026Q4") not in keys


async def test_r14_accountability_for_one_unit(seeded: SessionFactory) -> None:
    async with transaction(seeded) as session:
        entries = await accountability_list(session, 2026, NOW_MID, unit="金安区")
    assert [_key(e) for e in entries] == [("金安区", "R18", "ZC-2026-0003")]


async def test_r14_a_stored_entry_the_records_no_longer_show_is_kept(
    seeded: SessionFactory,
) -> None:
    from storage.tables import AccountabilityEntry as Row

    async with transaction(seeded) as session:
        session.add(
            Row(
                unit_id=1,
                rule="R8",
                label="",
                subject="unit:1",
                period="2026Q2",
                evidence=[],
                created_at=NOW_MID,
            )
        )
    async with transaction(seeded) as session:
        entries = await accountability_list(session, 2026, NOW_MID, unit="市财政局")
    [kept] = entries
    assert (kept.rule, kept.period, kept.recorded_at is not None) == ("R8", "2026Q2", True)
    assert kept.summary == "2026年第二季度：季度未召开新闻发布会（R8）"


async def test_r14_an_entry_belongs_to_the_period_of_its_quota_not_to_when_it_fell_due(
    seeded: SessionFactory,
) -> None:
    from liuan_bot.domain.evaluation import parse_period

    async with transaction(seeded) as session:
        entries = await accountability_list(session, 2026, NOW_MID)
    q3 = [_key(e) for e in entries if e.within(parse_period("2026Q3"))]
    q4 = [_key(e) for e in entries if e.within(parse_period("2026Q4"))]
    h1 = [_key(e) for e in entries if e.within(parse_period("2026H1"))]
    # 市教育局's Q3 miss fell due on 10-01 but belongs to Q3; ZC-0003 fell due 07-02, TF-0001
    # on 09-03
    assert q3 == [
        ("市教育局", "R8", "2026Q3"),
        ("金安区", "R18", "ZC-2026-0003"),
        ("市卫生健康委", "R17", "TF-2026-0001"),
    ]
    assert q4 == [("市卫生健康委", "R18", "ZC-2026-0002")]
    assert len(h1) == 5  # R8 Q1 ×2, R8 Q2, R9 H1 ×2
