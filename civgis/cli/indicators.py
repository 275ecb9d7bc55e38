"""``civgis indicators WS [--zones] [--json [FILE] | --csv [FILE] | --xlsx FILE] [--targets FILE]``.

Without an output option it prints the county table (Chinese names, value, target, pass/fail,
responsible unit) and, with ``--zones``, one line per zone with the zones that fail most first.
"""

from __future__ import annotations

import json

import math
import sys

import pandas as pd

from ._common import CliError, _json_default, info, open_workspace, output_path, print_json, print_table
from .data import WS_HELP

__all__ = ["HEADERS_ZH", "ZONE_COLUMNS", "register", "records", "passed_zh", "format_value", "county_view",
           "zone_view", "SCOPE_ZH", "csv_table", "write_xlsx", "run"]

#: tidy-table column → Chinese header (xlsx)
HEADERS_ZH = {"indicator": "指标代码", "name_zh": "指标", "scope": "范围", "zone_id": "责任区编号",
              "zone_name": "责任区名称", "road_class": "道路等级", "value": "数值", "unit": "单位", "target": "目标值",
              "comparison": "比较", "passed": "达标", "responsible_unit": "责任单位", "standard": "标准依据",
              "note": "说明"}

#: the zone overview: indicator (overall rows) → short Chinese header
ZONE_COLUMNS = {"green_space_ratio": "绿地率%", "park_service_coverage": "公园服务%", "lamp_installation_rate": "装灯率%",
                "lamp_lighting_rate": "亮灯率%", "toilet_service_coverage": "公厕覆盖%", "mech_sweeping_rate": "机扫率%",
                "road_length": "道路(米)", "lamp_count": "路灯", "toilet_count": "公厕", "residents": "居民"}


def register(sub) -> None:
    p = sub.add_parser("indicators", help="创建指标达标情况（全县及各责任区） indicators against their targets (county and zones)",
                       description="计算创建全国文明城市指标（绿地率、绿化覆盖率、人均公园绿地、公园服务半径覆盖率、"
                                   "装灯率、亮灯率、公厕、机械化清扫率），对照目标文件判定是否达标。"
                                   " Every indicator of the national standards against its target, county-wide and per zone.")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--zones", action="store_true", help="同时计算各包保责任区的指标 also compute every zone")
    p.add_argument("--targets", metavar="FILE",
                   help="目标文件（默认 data/targets.toml；工作空间旁的 <名称>.targets.toml 自动覆盖） targets file")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", nargs="?", const="-", metavar="FILE", help="输出 JSON（不给文件名则输出到屏幕） write JSON to FILE or standard output")
    out.add_argument("--csv", nargs="?", const="-", metavar="FILE", help="输出 CSV（UTF-8；不给文件名则输出到屏幕） write CSV to FILE or standard output")
    out.add_argument("--xlsx", metavar="FILE", help="输出 Excel 表（全县、责任区、目标三张表） write an Excel workbook")
    p.set_defaults(func=run)


def _compute(args) -> tuple[pd.DataFrame, object]:
    from civgis.analysis.indicators import IndicatorError, compute_indicators  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.targets import TargetsError, load_targets  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    try:
        targets = load_targets(args.targets, ws=ws)
        return compute_indicators(ws, zones=args.zones, targets=targets), targets
    except (IndicatorError, TargetsError, WorkspaceError) as exc:
        raise CliError(str(exc)) from None


def records(table: pd.DataFrame) -> list[dict]:
    """JSON-ready rows (NaN and NA → None)."""
    obj = table.astype(object).where(table.notna(), None)
    return obj.to_dict(orient="records")


def passed_zh(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "达标" if bool(value) else "未达标"


def format_value(value, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "无数据"
    if unit in ("%", "m²/人", "座/km²", "座/万人"):
        return f"{value:.2f}"
    return f"{value:,.0f}"


def county_view(table: pd.DataFrame) -> pd.DataFrame:
    """The county rows as the bureau reads them (Chinese columns, formatted numbers)."""
    city = table[table["scope"] == "city"]
    target = [("" if pd.isna(t) else f"{ {'>=': '≥', '>': '>', '<=': '≤', '<': '<'}[c]} {t:g}")
              for t, c in zip(city["target"], city["comparison"])]
    return pd.DataFrame({
        "指标": city["name_zh"].to_numpy(),
        "数值": [format_value(v, u) for v, u in zip(city["value"], city["unit"])],
        "单位": city["unit"].to_numpy(),
        "目标": target,
        "达标": [passed_zh(p) for p in city["passed"]],
        "责任单位": city["responsible_unit"].to_numpy(),
        "说明": city["note"].fillna("").to_numpy(),
    })


def zone_view(table: pd.DataFrame) -> pd.DataFrame:
    """One line per zone (overall rows only); failing values marked ✗; most failures first."""
    z = table[(table["scope"] == "zone") & table["road_class"].isna() & table["indicator"].isin(list(ZONE_COLUMNS))]
    if z.empty:
        return pd.DataFrame()
    cell = [("无" if pd.isna(v) else (f"{v:.1f}" if u == "%" else f"{v:,.0f}")) + (" ✗" if p is False else "")
            for v, u, p in zip(z["value"], z["unit"], z["passed"].astype(object).where(z["passed"].notna(), None))]
    wide = z.assign(cell=cell).pivot_table(index=["zone_id", "zone_name"], columns="indicator", values="cell",
                                           aggfunc="first")
    fails = z.assign(f=z["passed"].fillna(True).eq(False)).groupby(["zone_id", "zone_name"])["f"].sum()
    wide = wide.reindex(columns=[c for c in ZONE_COLUMNS if c in wide.columns]).rename(columns=ZONE_COLUMNS)
    wide.insert(0, "未达标项", fails.reindex(wide.index).astype(int))
    wide = wide.reset_index().rename(columns={"zone_id": "责任区", "zone_name": "名称"})
    return wide.sort_values(["未达标项", "责任区"], ascending=[False, True], kind="stable")


#: scope code → Chinese
SCOPE_ZH = {"city": "全县", "zone": "责任区"}


def csv_table(table: pd.DataFrame) -> pd.DataFrame:
    """The tidy table for a spreadsheet: Chinese headers and labels, the codes in columns of their own.

    范围 (全县/责任区) beside 范围代码 (city/zone), 指标 beside 指标代码, 道路等级 (主干道 …) beside
    道路等级代码, 达标 as 达标/未达标/— (no target or 无数据: see 说明).
    """
    from civgis.store.catalogue import layer_spec  # lazy: `civgis --help` 1 s, not 4 s

    road_zh = layer_spec("roads").fields["road_class"].values
    out = table.copy()
    out["passed"] = [passed_zh(p) for p in out["passed"].astype(object).where(out["passed"].notna(), None)]
    out.insert(out.columns.get_loc("scope") + 1, "scope_code", out["scope"])
    out["scope"] = out["scope"].map(lambda s: SCOPE_ZH.get(s, s))
    if "road_class" in out:
        out.insert(out.columns.get_loc("road_class") + 1, "road_class_code", out["road_class"])
        out["road_class"] = out["road_class"].map(lambda c: road_zh.get(c, c) if isinstance(c, str) else c)
    headers = {**HEADERS_ZH, "scope_code": "范围代码", "road_class_code": "道路等级代码"}
    first = [c for c in ("name_zh", "indicator") if c in out]
    out = out[first + [c for c in out.columns if c not in first]]
    return out.rename(columns=headers)


def write_xlsx(table: pd.DataFrame, path, targets=None) -> None:
    """The table as an Excel workbook with Chinese headers: 全县指标, 责任区指标, 目标与依据."""
    from civgis.store.inert import inert_workbook  # lazy: `civgis --help` 1 s, not 4 s
    out = table.copy()
    out["passed"] = [passed_zh(p) for p in out["passed"].astype(object).where(out["passed"].notna(), None)]
    out["value"] = out["value"].astype(object).where(out["value"].notna(), "无数据")   # missing is not a blank or 0
    out = out.rename(columns=HEADERS_ZH)
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        out[out["范围"] == "city"].drop(columns=["范围", "责任区编号", "责任区名称"]).to_excel(xl, sheet_name="全县指标", index=False)
        out[out["范围"] == "zone"].drop(columns=["范围"]).to_excel(xl, sheet_name="责任区指标", index=False)
        if targets is not None:
            rows = [{"指标代码": k, "目标值": t.target, "比较": t.comparison, "标准依据": t.standard, "核实状态": t.status,
                     "责任单位": t.responsible_unit} for k, t in targets.targets.items()]
            pd.DataFrame(rows).to_excel(xl, sheet_name="目标与依据", index=False)
        inert_workbook(xl.book)  # user text (zone names) never becomes a formula
        for ws in xl.book.worksheets:
            for col in ws.columns:
                width = max(len(str(c.value or "")) for c in col)
                ws.column_dimensions[col[0].column_letter].width = min(60, 4 + 1.6 * width)


def run(args) -> int:
    for target in (args.json, args.csv, args.xlsx):
        if target not in (None, "-"):
            output_path(target)
    table, targets = _compute(args)
    if args.json is not None:
        if args.json == "-":
            print_json(records(table))
        else:



            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(records(table), fh, ensure_ascii=False, indent=2, default=_json_default)
        return 0
    if args.csv is not None:
        from civgis.store.inert import inert_frame  # lazy: `civgis --help` 1 s, not 4 s

        out = inert_frame(csv_table(table))  # a zone name like =HYPERLINK(…) stays text
        if args.csv == "-":
            out.to_csv(sys.stdout, index=False)
        else:
            out.to_csv(args.csv, index=False, encoding="utf-8-sig")  # BOM: Excel reads the Chinese right
        return 0
    if args.xlsx:
        write_xlsx(table, args.xlsx, targets)
        info(f"已写入 written: {args.xlsx}")
        return 0
    print("创建全国文明城市 指标达标情况（建成区）")
    print_table(county_view(table))
    city = table[(table["scope"] == "city") & table["road_class"].isna()]
    print(f"\n全县达标 {int(city['passed'].fillna(False).sum())} 项 / 有目标 {int(city['passed'].notna().sum())} 项"
          f"（不含分道路等级）；目标文件: {', '.join(str(p) for p in targets.sources)}")
    if args.zones:
        zv = zone_view(table)
        print("\n各责任区（✗ 为未达标，未达标项多的排在前面）")
        if zv.empty:
            print("（无责任区）")
        else:
            print_table(zv)
    return 0
