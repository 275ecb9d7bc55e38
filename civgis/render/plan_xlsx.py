"""整改任务清单.xlsx — the pass plan's tasks as a print-ready workbook, one sheet per unit."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from civgis.analysis.plan import PassPlan
from civgis.render.cellstyle import style_cells
from civgis.store.inert import looks_like_formula, save_workbook

__all__ = ["TASK_HEADERS_ZH", "GAP_HEADERS_ZH", "write_plan_xlsx"]

TASK_HEADERS_ZH = {"task_id": "编号", "task": "任务", "name_zh": "指标", "quantity": "数量", "unit": "单位",
                   "zone_id": "责任区编号", "zone_name": "责任区", "road_name": "道路", "lon": "经度", "lat": "纬度",
                   "lead_unit": "牵头单位", "resp_unit": "责任单位", "staff": "责任人", "start_by": "最迟开工",
                   "deadline": "完成时限", "class_": "分类"}
GAP_HEADERS_ZH = {"name_zh": "指标", "value": "现状", "target": "目标", "class_": "分类", "sentence": "达标路径"}
WIDTHS = {"任务": 46, "指标": 16, "达标路径": 60, "责任区": 14, "道路": 14, "牵头单位": 20, "责任单位": 20}
def _cell(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    return value


def _sheet(ws, frame: pd.DataFrame, title: str) -> None:
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(list(frame.columns))
    for c in ws[2]:
        c.font = Font(bold=True)
    for rec in frame.itertuples(index=False):
        ws.append([_cell(v) for v in rec])
        for c in ws[ws.max_row]:
            if looks_like_formula(c.value):
                c.data_type = "s"          # stays text: Excel and LibreOffice show it, never evaluate it
                c.quotePrefix = True
    for j, name in enumerate(frame.columns, start=1):
        ws.column_dimensions[get_column_letter(j)].width = WIDTHS.get(name, 12)
        column = [row[0] for row in ws.iter_rows(min_row=3, min_col=j, max_col=j)]
        style_cells(column, alignment=Alignment(wrap_text=True, vertical="top"))
        if name in ("完成时限", "最迟开工"):
            style_cells(column, number_format="yyyy-mm-dd")
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.paperSize = 9            # A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def _safe_title(name: str, used: set) -> str:
    t = re.sub(r"[\[\]:*?/\\]", "_", str(name or "未指定单位"))[:28]
    base, i = t, 2
    while t in used:
        t = f"{base[:25]}_{i}"
        i += 1
    used.add(t)
    return t


def write_plan_xlsx(plan: PassPlan, path: str | os.PathLike, *, title: str = "创建全国文明城市 整改任务清单") -> Path:
    """Write the workbook atomically: 达标路径 (one row per judged indicator, the class rule), 全部任务,
    then one sheet per 牵头单位 with its tasks (A4 landscape, header row repeated, page numbers)."""
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "达标路径"
    gaps = plan.gaps[list(GAP_HEADERS_ZH)].rename(columns=GAP_HEADERS_ZH)
    gaps["现状"] = pd.to_numeric(gaps["现状"], errors="coerce").round(2)
    _sheet(ws, gaps, f"{title}（迎检日期 {plan.inspection_date.isoformat()}，编制日期 {plan.as_of.isoformat()}）")
    ws.append([])
    ws.append(["分类规则", plan.rule])
    ws.merge_cells(start_row=ws.max_row, start_column=2, end_row=ws.max_row, end_column=len(gaps.columns))
    ws.cell(row=ws.max_row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[ws.max_row].height = 48
    tasks = plan.tasks[list(TASK_HEADERS_ZH)].rename(columns=TASK_HEADERS_ZH)
    tasks["经度"] = tasks["经度"].round(6)
    tasks["纬度"] = tasks["纬度"].round(6)
    used = {"达标路径", "全部任务"}
    _sheet(wb.create_sheet("全部任务"), tasks, f"{title}：全部任务 {len(tasks)} 项")
    for unit, grp in tasks.groupby("牵头单位", sort=True, dropna=False):
        _sheet(wb.create_sheet(_safe_title(unit, used)), grp, f"{title}：{unit}（{len(grp)} 项）")
    return save_workbook(wb, path)
