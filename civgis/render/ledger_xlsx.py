"""The ledger (工作台账) as a printable Excel workbook, laid out as a bureau prints its 台账.

Every sheet prints on A4 landscape with a title row (county, ledger title, sheet name and the
statistics date), a 序号 column, thin borders, the title and header rows repeated on every page,
the footer 第 N 页 共 M 页 and a 制表人 / 审核人 / 制表日期 line under the table; the 汇总 sheet
fits on one page. Every cell uses one explicit CJK font (:data:`CJK_FONT`), so no face falls back
to a serif.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.indexed_list import IndexedList
from openpyxl.worksheet.page import PageMargins

from civgis.analysis.ledger import HEADERS_ZH, Ledger, MEASURES, OUTCOME_ZH, SHEETS_ZH
from civgis.render.cellstyle import style_cells
from civgis.store.inert import save_workbook

__all__ = ["write_ledger_xlsx", "DEFINITIONS_ZH", "CJK_FONT", "FOOTER_ZH", "SIGN_OFF_ZH", "county_of"]

#: the workbook's font: Noto Sans CJK SC (Debian's fonts-noto-cjk); pass ``font="宋体"`` for Windows offices
CJK_FONT = "Noto Sans CJK SC"
#: page footer (Excel codes: &P page, &N pages)
FOOTER_ZH = "第 &P 页 共 &N 页"
#: the sign-off line under every table
SIGN_OFF_ZH = "制表人：____________　　审核人：____________　　制表日期：{date}"
_A4 = 9          # openpyxl/Excel paper code of A4
_HEAD_ROW = 2    # row 1 is the title, row 2 the column headers
_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def county_of(built_up_names) -> str:
    """The county's name from its built-up area's name (``示范县建成区`` → ``示范县``); "" when unknown."""
    for name in built_up_names:
        text = re.sub(r"(城区)?建成区(范围)?$", "", str(name or "")).strip()
        if text:
            return text
    return ""


def write_ledger_xlsx(ledger: Ledger, path: str | os.PathLike, *, title: str = "城市管理问题整改工作台账",
                      include_cases: bool = False, county: str = "", font: str = CJK_FONT,
                      prepared_on: dt.date | None = None) -> Path:
    """Write the ledger as a printable workbook, atomically (temp file, then ``os.replace``).

    Sheets: 汇总 (totals and the definitions), 按类别, 按责任区, 按责任单位, 按月份 (each with a
    合计 row), 超期案件 (with the zone's 责任人 and phone) and, with ``include_cases``, 案件明细 (every
    case in scope; tens of thousands of rows take openpyxl tens of seconds). Headers are Chinese, the header
    row is frozen, dates are Excel dates (``yyyy-mm-dd hh:mm``; months ``yyyy-mm``), rates are
    percentages, columns sized to their content, and category codes carry their Chinese labels.
    Print layout: see the module docstring; ``county`` heads every title, ``prepared_on`` (default
    today) fills 制表日期, ``font`` is the one font of the workbook.
    """
    path = Path(path)
    wb = Workbook()
    _default_font(wb, Font(name=font, size=10))
    page = _PageInfo(title=f"{county}{title}", as_of=ledger.as_of, font=font,
                     prepared_on=prepared_on or dt.date.today())
    ws = wb.active
    ws.title = SHEETS_ZH["totals"]
    _totals_sheet(ws, ledger, page)
    total_row = {k: v for k, v in ledger.totals.items() if k in MEASURES}
    views = [("by_category", ledger.by_category, "category_zh"), ("by_zone", ledger.by_zone, "zone_name"),
             ("by_unit", ledger.by_unit, "unit"), ("by_month", ledger.by_month, "month")]
    for name, view, label_col in views:
        frame = view.copy()
        if name == "by_category":
            frame = frame[["category_zh", "category"] + MEASURES]
        if len(frame):
            frame = pd.concat([frame, pd.DataFrame([{**total_row, label_col: "合计"}])], ignore_index=True)
        _table_sheet(wb.create_sheet(SHEETS_ZH[name]), frame, page)
    overdue = ledger.overdue[["case_id", "category_zh", "category", "zone_name", "zone_id", "unit", "staff",
                              "phone", "reported_at", "deadline", "days_overdue"]]
    _table_sheet(wb.create_sheet(SHEETS_ZH["overdue"]), overdue, page)
    if include_cases:
        _cases_sheet(wb, ledger, page)
    return save_workbook(wb, path)  # a case id like =HYPERLINK(…) stays text


def _default_font(wb: Workbook, font: Font) -> None:
    """Make ``font`` the workbook's default (font 0 and the Normal style): every cell, empty ones too."""
    wb._fonts = IndexedList([font])
    wb._named_styles["Normal"].font = font


class _PageInfo:
    """What every printed sheet repeats: title, statistics date, font, 制表日期."""

    def __init__(self, *, title: str, as_of, font: str, prepared_on: dt.date):
        self.title, self.as_of, self.font, self.prepared_on = title, as_of, font, prepared_on

    def heading(self, sheet: str) -> str:
        return f"{self.title}（{sheet}）　统计截止：{pd.Timestamp(self.as_of):%Y-%m-%d %H:%M}"


def _cases_sheet(wb, ledger: Ledger, page: _PageInfo) -> None:
    cases = ledger.cases.assign(status=ledger.cases["status"].map({"open": "未结案", "closed": "已结案"}),
                                outcome=ledger.cases["outcome"].map(OUTCOME_ZH))
    _table_sheet(wb.create_sheet(SHEETS_ZH["cases"]), cases, page)


DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
MONTH_FORMAT = "yyyy-mm"
PERCENT_FORMAT = "0.0%"
DAYS_FORMAT = "0.0"


def _cell_value(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        # Excel keeps milliseconds and would round the end of a day (23:59:59.999999) up to the next day
        value = value.tz_localize(None) if value.tzinfo else value
        return value.floor("s").to_pydatetime()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    return value


def _text_width(value) -> int:
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _style_header(ws, n_cols: int, font: str, row: int = _HEAD_ROW) -> None:
    for col in range(1, n_cols + 1):
        cell = ws.cell(row=row, column=col)
        cell.font = Font(name=font, size=10, bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _title_row(ws, page: _PageInfo, n_cols: int, *, two_lines: bool = False) -> None:
    """Row 1: county + title + sheet name + statistics date, merged over the table (two lines when narrow)."""
    heading = page.heading(ws.title)
    ws.append([heading.replace("　统计截止", "\n统计截止") if two_lines else heading])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(n_cols, 1))
    cell = ws.cell(row=1, column=1)
    cell.font = Font(name=page.font, size=14, bold=True)
    cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=two_lines)
    ws.row_dimensions[1].height = 44 if two_lines else 28


def _box(ws, first_row: int, last_row: int, n_cols: int) -> None:
    style_cells((cell for row in ws.iter_rows(min_row=first_row, max_row=last_row, max_col=n_cols) for cell in row),
                border=_BOX)


def _sign_off(ws, page: _PageInfo, n_cols: int) -> None:
    ws.append([])
    ws.append([SIGN_OFF_ZH.format(date=f"{page.prepared_on:%Y-%m-%d}")])
    ws.merge_cells(start_row=ws.max_row, start_column=1, end_row=ws.max_row, end_column=max(n_cols, 1))
    ws.cell(row=ws.max_row, column=1).alignment = Alignment(horizontal="left")


def _print_setup(ws, *, one_page: bool = False) -> None:
    """A4 landscape, title and header repeated on every page, 第 N 页 共 M 页 footer."""
    ws.page_setup.paperSize = _A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if one_page else 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{_HEAD_ROW}"
    ws.print_options.horizontalCentered = True
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.7, header=0.3, footer=0.3)
    ws.oddFooter.center.text = FOOTER_ZH
    ws.oddFooter.center.size = 9


def _table_sheet(ws, frame: pd.DataFrame, page: _PageInfo) -> None:
    columns = list(frame.columns)
    n_cols = len(columns) + 1                      # 序号 first
    _title_row(ws, page, n_cols)
    ws.append(["序号"] + [HEADERS_ZH.get(c, c) for c in columns])
    n = len(frame)
    has_total = bool(n) and "合计" in [str(v) for v in frame.iloc[-1].tolist()]
    for i, record in enumerate(frame.itertuples(index=False), start=1):
        number = None if has_total and i == n else i
        ws.append([number] + [_cell_value(v) for v in record])
    _style_header(ws, n_cols, page.font)
    first, last = _HEAD_ROW + 1, _HEAD_ROW + n
    ws.column_dimensions["A"].width = 6
    for j, name in enumerate(columns, start=2):
        fmt = {"closure_rate": PERCENT_FORMAT, "on_time_rate": PERCENT_FORMAT, "month": MONTH_FORMAT,
               "median_days_to_close": DAYS_FORMAT, "days_to_close": DAYS_FORMAT, "days_overdue": DAYS_FORMAT}.get(name)
        if fmt is None and pd.api.types.is_datetime64_any_dtype(frame[name]):
            fmt = DATETIME_FORMAT
        if fmt:
            style_cells((ws.cell(row=i, column=j) for i in range(first, last + 1)), number_format=fmt)
        if fmt in (DATETIME_FORMAT,):
            width = 17
        elif fmt == MONTH_FORMAT:
            width = 10
        else:
            sample = frame[name].head(2000).dropna()
            width = max([_text_width(HEADERS_ZH.get(name, name))] + [_text_width(v) for v in sample])
            width = min(max(width + 2, 8), 40)
            if fmt in (PERCENT_FORMAT, DAYS_FORMAT):
                width = max(_text_width(HEADERS_ZH.get(name, name)) + 2, 9)
        ws.column_dimensions[get_column_letter(j)].width = width
    if has_total:
        for j in range(1, n_cols + 1):
            ws.cell(row=last, column=j).font = Font(name=page.font, size=10, bold=True)
    style_cells((ws.cell(row=i, column=1) for i in range(first, last + 1)), alignment=Alignment(horizontal="center"))
    _box(ws, _HEAD_ROW, last, n_cols)
    ws.freeze_panes = f"B{_HEAD_ROW + 1}"
    ws.auto_filter.ref = f"A{_HEAD_ROW}:{get_column_letter(n_cols)}{last}" if n else None
    _sign_off(ws, page, n_cols)
    _print_setup(ws)


def _totals_sheet(ws, ledger: Ledger, page: _PageInfo) -> None:
    _title_row(ws, page, 2, two_lines=True)
    ws.append(["项目", "数值"])
    _style_header(ws, 2, page.font)
    ws.append(["台账名称", page.title])
    ws.append(["统计截止时间", _cell_value(ledger.as_of)])
    ws.cell(row=ws.max_row, column=2).number_format = "yyyy-mm-dd hh:mm:ss"
    fmts = {"closure_rate": PERCENT_FORMAT, "on_time_rate": PERCENT_FORMAT, "median_days_to_close": DAYS_FORMAT}
    for key in MEASURES:
        ws.append([HEADERS_ZH[key], _cell_value(ledger.totals[key])])
        if key in fmts:
            ws.cell(row=ws.max_row, column=2).number_format = fmts[key]
    ws.append(["截止时间后上报（未纳入）", ledger.totals["excluded_after_as_of"]])
    for row in ws.iter_rows(min_row=_HEAD_ROW + 1, max_row=ws.max_row, min_col=2, max_col=2):
        row[0].alignment = Alignment(horizontal="left")
    _box(ws, _HEAD_ROW, ws.max_row, 2)
    widths = (30, 44)
    ws.append([])
    ws.append(["口径说明"])
    ws.cell(row=ws.max_row, column=1).font = Font(name=page.font, size=10, bold=True)
    for line in DEFINITIONS_ZH:   # merged over both columns and wrapped: nothing spills onto a second page
        ws.append([line])
        r = ws.max_row
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
        ws.cell(row=r, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[r].height = 14.5 * math.ceil(_text_width(line) / (sum(widths) - 2)) + 2
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = widths
    ws.freeze_panes = f"A{_HEAD_ROW + 1}"
    _sign_off(ws, page, 2)
    _print_setup(ws, one_page=True)


DEFINITIONS_ZH = [
    "统计截止时间之后上报的案件不纳入统计；只给日期时指当日 24 时。",
    "按期结案：结案时间 ≤ 处置时限；超期结案：结案时间 > 处置时限。",
    "超期未结：截止时未结案且处置时限早于截止时间；在办未超期：截止时未结案且未过处置时限。",
    "结案率 = 已结案 ÷ 纳入统计的全部案件；按期结案率 = 按期结案 ÷ 已结案。",
    "结案用时 = 结案时间 − 上报时间（天，含小数），中位数按已结案案件计算。",
    "案件按坐标落入的责任区归属；落在多个责任区重叠处的，归编号最小的责任区；不在任何责任区内的记为“未划分责任区”。",
]
