"""Reports of the R14 evaluation and accountability list: Markdown, CSV and xlsx.

One table definition (`evaluation_table`, `accountability_table`: Chinese headers, cells as
text) feeds every format, the CLI (`python bot.py report`) and the console's downloads, so
they all show the same figures in the same words. Pure: no I/O, no clock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime

from liuan_bot.domain.evaluation import (
    SHANGHAI,
    AccountabilityEntry,
    Evaluation,
    ReminderEvidence,
    RuleResult,
    UnitEvaluation,
    reminder_label,
)

EVALUATION_HEADERS: tuple[str, ...] = (
    "单位",
    "重点单位",
    "召开发布会（场）",
    "其中市政府发布会",
    "其中自行召开",
    "季度发布会（R8）",
    "出席市政府发布会（R9）",
    "主要负责人出席（R10）",
    "主要负责人发布（场）",
    "新闻发言人发布（场）",
    "专家发布（场）",
    "其他发布人（场）",
    "主题关键词",
    "渠道已发布/应发布",
    "渠道覆盖率",
    "平均确认用时（小时）",
    "突发事件（起）",
    "平均首发用时（小时）",
    "24小时内召开发布会",
    "超时回应",
    "政策文件（件）",
    "按时解读",
    "解读迟延",
    "未解读",
    "发言人名单报送（R5）",
    "培训覆盖（R7）",
    "未培训人员",
    "计划主题（R12）",
    "计划已召开",
    "计划未召开",
    "风险评估函告（R13）",
    "函告已关联",
    "无风险评估的重大政策",
)
ACCOUNTABILITY_HEADERS: tuple[str, ...] = (
    "问责类型",
    "单位",
    "依据",
    "期间",
    "情况",
    "相关记录",
    "提醒记录（送达、确认）",
    "列入时间",
)


def fmt_time(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


def _list(items: Sequence[str]) -> str:
    return "、".join(items) if items else "无"


def _rule(result: RuleResult) -> str:
    return f"{result.count}（{result.status_label}）"


def evaluation_row(u: UnitEvaluation) -> tuple[str, ...]:
    s = u.speakers_by_role
    return (
        u.unit,
        "是" if u.key_unit else "否",
        str(len(u.held)),
        str(u.city_held),
        str(u.self_held),
        _rule(u.r8),
        _rule(u.r9),
        _rule(u.r10),
        str(s.get("主要负责人", 0)),
        str(s.get("新闻发言人", 0)),
        str(s.get("专家", 0)),
        str(s.get("其他", 0)),
        "、".join(u.keywords),
        f"{u.channels_published}/{u.channels_expected}",
        _pct(u.channel_coverage),
        _num(u.confirmation_delay_h),
        str(u.incidents),
        _num(u.first_release_delay_h),
        f"{u.incidents_on_time}/{u.incidents}",
        _list(u.incidents_late),
        str(u.policies),
        f"{u.policies_on_time}/{u.policies}",
        _list(u.policies_late),
        _list(u.policies_missing),
        f"已报送（{fmt_time(u.roster_filed_at)}）" if u.roster_filed_at else "未报送",
        f"{u.trained}/{u.trainees}",
        _list(u.untrained),
        _list(u.planned),
        _list(u.planned_held),
        _list(u.planned_missing),
        str(u.risk_letters),
        f"{u.risk_linked}/{u.risk_letters}",
        _list(u.policies_without_risk),
    )


def evaluation_table(evaluation: Evaluation) -> list[tuple[str, ...]]:
    return [evaluation_row(u) for u in evaluation.units]


def reminder_line(r: ReminderEvidence) -> str:
    """`2026-04-01 09:00 季度未完成名单：张三（送达 2026-04-01 09:00，确认 …）`"""
    people = []
    for d in r.deliveries:
        delivered = f"送达 {fmt_time(d.delivered_at)}" if d.delivered_at else "未送达"
        acked = f"确认 {fmt_time(d.acked_at)}" if d.acked_at else "未确认"
        people.append(f"{d.name}（{delivered}，{acked}）")
    return f"{fmt_time(r.recorded_at)} {reminder_label(r.kind)}：{'；'.join(people) or '无人接收'}"


def accountability_row(e: AccountabilityEntry) -> tuple[str, ...]:
    return (
        e.kind_label,
        e.unit,
        e.rule,
        e.period_label,
        e.summary,
        _list(e.records),
        "\n".join(reminder_line(r) for r in e.reminders) or "未发出提醒",
        fmt_time(e.recorded_at) if e.recorded_at else "",
    )


def accountability_table(entries: Sequence[AccountabilityEntry]) -> list[tuple[str, ...]]:
    return [accountability_row(e) for e in entries]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(evaluation: Evaluation, accountability: Sequence[AccountabilityEntry]) -> str:
    lines = [
        f"# 新闻发布工作评估报告（{evaluation.label}）",
        "",
        f"统计截至 {fmt_time(evaluation.now)}，共 {len(evaluation.units)} 个单位。",
        "",
        "## 各单位评估",
        "",
        *_md_table(EVALUATION_HEADERS, evaluation_table(evaluation)),
        "",
        f"## 问责清单（{len(accountability)} 条）",
        "",
    ]
    if accountability:
        lines += _md_table(ACCOUNTABILITY_HEADERS, accountability_table(accountability))
    else:
        lines.append("本期没有列入问责清单的事项。")
    return "\n".join(lines) + "\n"


def render_csv(evaluation: Evaluation, accountability: Sequence[AccountabilityEntry]) -> str:
    """Two tables one after the other, a blank line between (open with UTF-8; the CLI writes
    a BOM so that Excel reads the Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"新闻发布工作评估（{evaluation.label}）"])
    writer.writerow(EVALUATION_HEADERS)
    writer.writerows(evaluation_table(evaluation))
    writer.writerow([])
    writer.writerow(["问责清单"])
    writer.writerow(ACCOUNTABILITY_HEADERS)
    writer.writerows(accountability_table(accountability))
    return out.getvalue()


def render_xlsx(evaluation: Evaluation, accountability: Sequence[AccountabilityEntry]) -> bytes:
    """Two sheets, 单位评估 and 问责清单, Chinese headers in bold, the header row frozen
    (openpyxl, write-only: a year of 60 units is written in tens of milliseconds)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    sheets = (
        ("单位评估", EVALUATION_HEADERS, evaluation_table(evaluation), False),
        ("问责清单", ACCOUNTABILITY_HEADERS, accountability_table(accountability), True),
    )
    for title, headers, rows, wrapped in sheets:
        sheet = book.create_sheet(title)
        for index, header in enumerate(headers, start=1):
            longest = max([len(header), *(len(r[index - 1]) for r in rows)])
            width = min(60, max(8, longest * 2))
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "B2"
        head = []
        for header in headers:
            cell = WriteOnlyCell(sheet, value=header)
            cell.font = bold
            head.append(cell)
        sheet.append(head)
        for row in rows:
            if not wrapped:
                sheet.append(list(row))
                continue
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value=value)
                cell.alignment = wrap
                cells.append(cell)
            sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS = ("md", "csv", "xlsx")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(
    fmt: str, evaluation: Evaluation, accountability: Sequence[AccountabilityEntry]
) -> bytes:
    """The report as file bytes: Markdown (UTF-8), CSV (UTF-8 with BOM, for Excel), xlsx."""
    if fmt == "md":
        return render_markdown(evaluation, accountability).encode("utf-8")
    if fmt == "csv":
        return render_csv(evaluation, accountability).encode("utf-8-sig")
    if fmt == "xlsx":
        return render_xlsx(evaluation, accountability)
    raise ValueError(fmt)


def file_name(evaluation: Evaluation, fmt: str, unit: str | None = None) -> str:
    """新闻发布评估-2026Q4[-市财政局].xlsx"""
    scope = f"-{unit}" if unit else ""
    return f"新闻发布评估-{evaluation.period.code}{scope}.{fmt}"
