"""R14 reports (md / csv / xlsx, `python bot.py report`) over the seeded year: the figures in
the files are checked against values worked out by hand (tests/fixtures/seed_year.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

import bot
from handlers.evaluation import report_data
from liuan_bot.domain.evaluation import AccountabilityEntry, Evaluation
from liuan_bot.reports import (
    ACCOUNTABILITY_HEADERS,
    EVALUATION_HEADERS,
    render,
    render_csv,
    render_markdown,
    render_xlsx,
)
from storage.engine import SessionFactory, make_engine, make_session_factory, transaction
from storage.migrate import upgrade
from tests.fixtures.seed_year import NOW_MID, seed_year
from tests.support import make_settings

# 市财政局 in 2026Q4, by hand: SQ-2026-0002 held (city, 李华), channels 2 of 3 (2 h and 24 h),
# TF-2026-0003 open, ZC-2026-0004 not yet published and without a risk letter, 张明 trained and
# 李华 not, plan 冬季供暖补贴 held and 年终财政收支 not.
CZ_Q4 = {
    "单位": "市财政局",
    "重点单位": "是",
    "召开发布会（场）": "1",
    "其中市政府发布会": "1",
    "其中自行召开": "0",
    "季度发布会（R8）": "1（已完成）",
    "出席市政府发布会（R9）": "1（已完成）",
    "主要负责人出席（R10）": "0（已完成）",
    "主要负责人发布（场）": "0",
    "新闻发言人发布（场）": "1",
    "专家发布（场）": "0",
    "其他发布人（场）": "0",
    "主题关键词": "",
    "渠道已发布/应发布": "2/3",
    "渠道覆盖率": "67%",
    "平均确认用时（小时）": "13",
    "突发事件（起）": "1",
    "平均首发用时（小时）": "—",
    "24小时内召开发布会": "0/1",
    "超时回应": "无",
    "政策文件（件）": "1",
    "按时解读": "0/1",
    "解读迟延": "无",
    "未解读": "无",
    "发言人名单报送（R5）": "已报送（2026-01-10 09:00）",
    "培训覆盖（R7）": "1/2",
    "未培训人员": "李华",
    "计划主题（R12）": "冬季供暖补贴、年终财政收支",
    "计划已召开": "冬季供暖补贴",
    "计划未召开": "年终财政收支",
    "风险评估函告（R13）": "0",
    "函告已关联": "0/0",
    "无风险评估的重大政策": "ZC-2026-0004",
}
# The one failure belonging to 2026Q4 at 11-26: ZC-2026-0002, published 10-10 09:00, never
# interpreted, one overdue reminder to 赵强 acknowledged at 11:00.
WJ_R18 = {
    "问责类型": "重大政策不解读",
    "单位": "市卫生健康委",
    "依据": "R18",
    "期间": "2026年10月11日",
    "情况": "ZC-2026-0002《医疗服务价格调整方案》于10月10日09:00公布，至今没有解读材料（R18）",
    "相关记录": "ZC-2026-0002",
    "提醒记录（送达、确认）": (
        "2026-10-11 09:00 逾期未解读通报：赵强（送达 2026-10-11 09:00，确认 2026-10-11 11:00）"
    ),
    "列入时间": "",
}


Report = tuple[Evaluation, list[AccountabilityEntry]]


def no_keywords(text: str) -> tuple[str, ...]:
    return ()


@pytest.fixture
async def q4(sessions: SessionFactory) -> Report:
    async with transaction(sessions) as session:
        await seed_year(session)
    async with transaction(sessions) as session:
        return await report_data(session, "2026Q4", NOW_MID, keywords=no_keywords)


async def test_r14_csv_report_figures_match_the_hand_computed_ones(q4: Report) -> None:
    text = render_csv(*q4)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["新闻发布工作评估（2026年第四季度）"]
    assert tuple(rows[1]) == EVALUATION_HEADERS
    by_unit = {r[0]: dict(zip(EVALUATION_HEADERS, r, strict=True)) for r in rows[2:8]}
    assert by_unit["市财政局"] == CZ_Q4
    assert by_unit["市卫生健康委"]["季度发布会（R8）"] == "0（有风险）"
    assert by_unit["市卫生健康委"]["未解读"] == "ZC-2026-0002"
    assert by_unit["金安区"]["季度发布会（R8）"] == "0（不考核）"
    assert by_unit["市教育局"]["计划未召开"] == "开学安全"
    blank = rows.index([])
    assert rows[blank + 1] == ["问责清单"]
    assert tuple(rows[blank + 2]) == ACCOUNTABILITY_HEADERS
    entries = rows[blank + 3 :]
    assert [dict(zip(ACCOUNTABILITY_HEADERS, r, strict=True)) for r in entries] == [WJ_R18]


async def test_r14_xlsx_has_two_sheets_with_chinese_headers_and_the_same_figures(
    q4: Report,
) -> None:
    book = load_workbook(io.BytesIO(render_xlsx(*q4)))
    assert book.sheetnames == ["单位评估", "问责清单"]
    units, entries = book["单位评估"], book["问责清单"]
    assert tuple(c.value for c in units[1]) == EVALUATION_HEADERS
    rows = {r[0]: r for r in units.iter_rows(min_row=2, values_only=True)}
    assert dict(zip(EVALUATION_HEADERS, rows["市财政局"], strict=True)) == {
        k: (v or None) for k, v in CZ_Q4.items()
    }
    assert tuple(c.value for c in entries[1]) == ACCOUNTABILITY_HEADERS
    [entry] = list(entries.iter_rows(min_row=2, values_only=True))
    assert entry[:6] == tuple(WJ_R18[h] for h in ACCOUNTABILITY_HEADERS[:6])


async def test_r14_markdown_report_has_the_tables_and_escapes_pipes(q4: Report) -> None:
    text = render_markdown(*q4)
    assert text.startswith("# 新闻发布工作评估报告（2026年第四季度）\n")
    assert "统计截至 2026-11-26 10:00，共 6 个单位。" in text
    assert "| 市财政局 | 是 | 1 | 1 | 0 | 1（已完成） |" in text
    assert "## 问责清单（1 条）" in text
    assert "| 重大政策不解读 | 市卫生健康委 | R18 | 2026年10月11日 |" in text
    assert render("csv", *q4).startswith("\ufeff".encode())


async def test_r14_cli_report_writes_the_file_and_refuses_a_bad_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/report.db"
    engine = make_engine(url)
    await upgrade(engine)
    async with transaction(make_session_factory(engine)) as session:
        await seed_year(session)
    await engine.dispose()
    settings = make_settings(url, tmp_path)
    out = tmp_path / "q4.xlsx"
    at = NOW_MID.isoformat()
    assert await bot._report(settings, "2026Q4", None, "xlsx", out, at) == 0
    assert "已生成2026年第四季度评估报表" in capsys.readouterr().out
    assert load_workbook(out).sheetnames == ["单位评估", "问责清单"]
    one = tmp_path / "cz.md"
    assert await bot._report(settings, "2026", "市财政局", "md", one, at) == 0
    assert "| 市财政局 |" in one.read_text(encoding="utf-8")
    assert "| 市卫生健康委 |" not in one.read_text(encoding="utf-8")
    assert await bot._report(settings, "2026Q9", None, "md", one, at) == 2
    assert "不是一个考核期" in capsys.readouterr().err
    assert await bot._report(settings, "2026", "不存在局", "md", one, at) == 2
    assert "名册里没有“不存在局”" in capsys.readouterr().err


def test_r14_markdown_cells_escape_pipes_and_line_breaks() -> None:
    from datetime import datetime

    from liuan_bot.domain.evaluation import Facts, UnitFact, evaluate, parse_period

    now = datetime(2026, 11, 26, 10, 0, tzinfo=NOW_MID.tzinfo)
    facts = Facts(units=[UnitFact(1, "市A|B局", "department", True)])
    text = render_markdown(evaluate(facts, parse_period("2026Q4"), now), [])
    assert "| 市A\\|B局 | 是 |" in text
    assert "本期没有列入问责清单的事项。" in text


async def test_r14_the_trend_chart_counts_the_seeded_years_held_conferences_by_quarter(
    sessions: SessionFactory,
) -> None:
    """The console's trend (conferences held per quarter) from the held_at column alone: by
    hand, Q1 02-10; Q2 04-08, 05-12, 06-18; Q3 08-20, 09-03; Q4 10-15 (unit 1: one a quarter)."""
    from liuan_bot.domain.evaluation import year_period
    from storage.console_store import held_times

    async with transaction(sessions) as session:
        await seed_year(session)
    span = year_period(2026)
    async with sessions() as session:
        every = await held_times(session, span.start, span.end)
        unit_1 = await held_times(session, span.start, span.end, unit_pk=1)
    by_quarter = [
        [sum(1 for at in times if q.contains(at)) for q in span.quarters()]
        for times in (every, unit_1)
    ]
    assert by_quarter == [[1, 3, 2, 1], [1, 1, 1, 1]]
