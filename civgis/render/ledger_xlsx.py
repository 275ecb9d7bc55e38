"""The ledger (工作台账) as a printable Excel workbook."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook

from civgis.analysis.ledger import HEADERS_ZH, Ledger, MEASURES, OUTCOME_ZH, SHEETS_ZH
from civgis.store.inert import inert_workbook

__all__ = ["write_ledger_xlsx", "DEFINITIONS_ZH"]


def write_ledger_xlsx(ledger: Ledger, path: str | os.PathLike, *, title: str = "城市管理问题整改工作台账",
                      include_cases: bool = False) -> Path:
    """Write the ledger as a printable workbook, atomically (temp file, then ``os.replace``).

    Sheets: 汇总 (totals and the definitions), 按类别, 按责任区, 按责任单位, 按月份 (each with a
    合计 row), 超期案件 (with the zone's 责任人 and phone) and, with ``include_cases``, 案件明细 (every
    case in scope; tens of thousands of rows take openpyxl tens of seconds). Headers are Chinese, the header
    row is frozen, dates are Excel dates (``yyyy-mm-dd hh:mm``; months ``yyyy-mm``), rates are
    percentages, columns sized to their content, and category codes carry their Chinese labels.
    """
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEETS_ZH["totals"]
    _totals_sheet(ws, ledger, title)
    total_row = {k: v for k, v in ledger.totals.items() if k in MEASURES}
    views = [("by_category", ledger.by_category, "category_zh"), ("by_zone", ledger.by_zone, "zone_name"),
             ("by_unit", ledger.by_unit, "unit"), ("by_month", ledger.by_month, "month")]
    for name, view, label_col in views:
        frame = view.copy()
        if name == "by_category":
            frame = frame[["category_zh", "category"] + MEASURES]
        if len(frame):
            frame = pd.concat([frame, pd.DataFrame([{**total_row, label_col: "合计"}])], ignore_index=True)
        _table_sheet(wb.create_sheet(SHEETS_ZH[name]), frame)
    overdue = ledger.overdue[["case_id", "category_zh", "category", "zone_name", "zone_id", "unit", "staff",
                              "phone", "reported_at", "deadline", "days_overdue"]]
    _table_sheet(wb.create_sheet(SHEETS_ZH["overdue"]), overdue)
    if include_cases:
        _cases_sheet(wb, ledger)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.xlsx")
    inert_workbook(wb)  # a case id like =HYPERLINK(…) stays text
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cases_sheet(wb, ledger: Ledger) -> None:
    cases = ledger.cases.assign(status=ledger.cases["status"].map({"open": "未结案", "closed": "已结案"}),
                                outcome=ledger.cases["outcome"].map(OUTCOME_ZH))
    _table_sheet(wb.create_sheet(SHEETS_ZH["cases"]), cases)


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


def _style_header(ws, n_cols: int) -> None:
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="999999")
    for col in range(1, n_cols + 1):
        cell = ws.cell(row=1, column=col)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(bottom=thin)


def _table_sheet(ws, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    columns = list(frame.columns)
    ws.append([HEADERS_ZH.get(c, c) for c in columns])
    for record in frame.itertuples(index=False):
        ws.append([_cell_value(v) for v in record])
    _style_header(ws, len(columns))
    n = len(frame)
    for j, name in enumerate(columns, start=1):
        fmt = {"closure_rate": PERCENT_FORMAT, "on_time_rate": PERCENT_FORMAT, "month": MONTH_FORMAT,
               "median_days_to_close": DAYS_FORMAT, "days_to_close": DAYS_FORMAT, "days_overdue": DAYS_FORMAT}.get(name)
        if fmt is None and pd.api.types.is_datetime64_any_dtype(frame[name]):
            fmt = DATETIME_FORMAT
        if fmt:
            for i in range(2, n + 2):
                ws.cell(row=i, column=j).number_format = fmt
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
    if n and "合计" in [str(v) for v in frame.iloc[-1].tolist()]:
        for j in range(1, len(columns) + 1):
            ws.cell(row=n + 1, column=j).font = Font(bold=True)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions if n else None
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def _totals_sheet(ws, ledger: Ledger, title: str) -> None:
    from openpyxl.styles import Font

    ws.append(["项目", "数值"])
    _style_header(ws, 2)
    ws.append(["台账名称", title])
    ws.append(["统计截止时间", _cell_value(ledger.as_of)])
    ws.cell(row=3, column=2).number_format = "yyyy-mm-dd hh:mm:ss"
    fmts = {"closure_rate": PERCENT_FORMAT, "on_time_rate": PERCENT_FORMAT, "median_days_to_close": DAYS_FORMAT}
    for key in MEASURES:
        ws.append([HEADERS_ZH[key], _cell_value(ledger.totals[key])])
        if key in fmts:
            ws.cell(row=ws.max_row, column=2).number_format = fmts[key]
    ws.append(["截止时间后上报（未纳入）", ledger.totals["excluded_after_as_of"]])
    ws.append([])
    ws.append(["口径说明"])
    ws.cell(row=ws.max_row, column=1).font = Font(bold=True)
    for line in DEFINITIONS_ZH:
        ws.append([line])
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 22
    ws.freeze_panes = "A2"


DEFINITIONS_ZH = [
    "统计截止时间之后上报的案件不纳入统计；只给日期时指当日 24 时。",
    "按期结案：结案时间 ≤ 处置时限；超期结案：结案时间 > 处置时限。",
    "超期未结：截止时未结案且处置时限早于截止时间；在办未超期：截止时未结案且未过处置时限。",
    "结案率 = 已结案 ÷ 纳入统计的全部案件；按期结案率 = 按期结案 ÷ 已结案。",
    "结案用时 = 结案时间 − 上报时间（天，含小数），中位数按已结案案件计算。",
    "案件按坐标落入的责任区归属；落在多个责任区重叠处的，归编号最小的责任区；不在任何责任区内的记为“未划分责任区”。",
]
