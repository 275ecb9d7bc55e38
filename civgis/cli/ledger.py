"""``civgis ledger``: the rectification ledger (整改工作台账) on screen, as JSON or as a printable .xlsx."""

from __future__ import annotations

from ._common import CliError, info, open_workspace, output_path, print_json, print_table
from .data import WS_HELP

__all__ = ["VIEWS", "register", "cmd_ledger"]

VIEWS = {"category": ("by_category", "按类别"), "zone": ("by_zone", "按责任区"), "unit": ("by_unit", "按责任单位"),
         "month": ("by_month", "按月份")}


def register(sub) -> None:
    p = sub.add_parser("ledger", help="整改工作台账 case ledger by category, zone, unit and month (and .xlsx)",
                       description="案件台账：按类别、责任区、责任单位、月份统计按期结案、超期结案、超期未结、结案率和结案用时；"
                                   "列出超期案件及责任人。 Cases by category, zone, unit and month: on time, late, overdue,"
                                   " closure rate and days to close; overdue cases with who answers for them.")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--as-of", dest="as_of", metavar="DATE",
                   help="统计截止日期 count up to YYYY-MM-DD (end of that day) or an ISO date-time; default: today")
    p.add_argument("--xlsx", metavar="FILE", help="写出可打印的 Excel 台账 write the printable Excel ledger to FILE")
    p.add_argument("--county", metavar="NAME",
                   help="台账标题中的县名（默认取建成区名称） county name in the titles (default: from built_up)")
    p.add_argument("--with-cases", action="store_true", help="在 .xlsx 中加入案件明细表 add the sheet of every case to the .xlsx")
    p.add_argument("--view", choices=["summary", *VIEWS, "overdue", "all"], default="summary",
                   help="显示哪张表 what to print (default summary: totals, units, categories, the 20 most overdue cases)")
    p.add_argument("--top", type=int, default=20, help="显示的超期案件数 overdue cases to print (default 20; 0 = all)")
    p.add_argument("--json", action="store_true", help="以 JSON 输出台账 print the ledger as JSON")
    p.set_defaults(func=cmd_ledger)


def _pct(value) -> str:
    return "—" if value != value else f"{100 * value:.1f}%"


def _days(value) -> str:
    return "—" if value != value else f"{value:.2f}"


def _show(df, keys: list[str]) -> None:
    from civgis.analysis.ledger import HEADERS_ZH, MEASURES  # lazy: `civgis --help` 1 s, not 4 s

    out = df.copy()
    out["closure_rate"] = out["closure_rate"].map(_pct)
    out["on_time_rate"] = out["on_time_rate"].map(_pct)
    out["median_days_to_close"] = out["median_days_to_close"].map(_days)
    if "month" in out:
        out["month"] = out["month"].dt.strftime("%Y-%m")
    if "zone_id" in out:
        out["zone_id"] = out["zone_id"].fillna("")
    cols = keys + [m for m in MEASURES if m != "open"]
    print_table(out, columns={c: HEADERS_ZH[c] for c in cols})


def cmd_ledger(args) -> int:
    from civgis.analysis.ledger import HEADERS_ZH, ledger_workspace  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.render.ledger_xlsx import county_of, write_ledger_xlsx  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import LayerMissingError  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    if args.xlsx:
        output_path(args.xlsx)
    try:
        ledger = ledger_workspace(ws, as_of=args.as_of)
    except LayerMissingError as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.xlsx:
        county = args.county
        if county is None:
            county = county_of(ws.read("built_up")["name"]) if ws.has("built_up") else ""
        path = write_ledger_xlsx(ledger, args.xlsx, include_cases=args.with_cases, county=county)
        info(f"已写出台账 ledger written: {path}")
    if args.json:
        print_json(ledger.to_dict())
        return 0
    t = ledger.totals
    print(f"整改工作台账  统计截止 {ledger.as_of:%Y-%m-%d %H:%M}")
    print(f"案件 {t['cases']} 件：已结案 {t['closed']}（按期 {t['closed_on_time']}，超期 {t['closed_late']}），"
          f"未结案 {t['open']}（在办未超期 {t['open_within_deadline']}，超期未结 {t['overdue']}）")
    print(f"结案率 {_pct(t['closure_rate'])}  按期结案率 {_pct(t['on_time_rate'])}  "
          f"结案用时中位数 {_days(t['median_days_to_close'])} 天"
          + (f"  （截止后上报未纳入 {t['excluded_after_as_of']} 件）" if t["excluded_after_as_of"] else ""))
    shown = {"summary": ["unit", "category"], "all": list(VIEWS)}.get(args.view, [args.view] if args.view in VIEWS else [])
    keys = {"category": ["category", "category_zh"], "zone": ["zone_id", "zone_name", "unit", "staff"],
            "unit": ["unit"], "month": ["month"]}
    for name in shown:
        attr, title = VIEWS[name]
        print(f"\n{title}")
        _show(getattr(ledger, attr), keys[name])
    if args.view in ("summary", "overdue", "all"):
        overdue = ledger.overdue if args.top == 0 else ledger.overdue.head(args.top)
        print(f"\n超期未结案件 {len(ledger.overdue)} 件" + (f"（超期最久的 {len(overdue)} 件）" if len(overdue) < len(ledger.overdue) else ""))
        if len(overdue):
            out = overdue.assign(reported_at=overdue["reported_at"].dt.strftime("%Y-%m-%d %H:%M"),
                                 deadline=overdue["deadline"].dt.strftime("%Y-%m-%d %H:%M"),
                                 days_overdue=overdue["days_overdue"].map(lambda d: f"{d:.1f}"),
                                 zone_name=overdue["zone_name"], staff=overdue["staff"].fillna("—"),
                                 phone=overdue["phone"].fillna("—"))
            cols = ["case_id", "category_zh", "zone_name", "unit", "staff", "phone", "deadline", "days_overdue"]
            print_table(out, columns={c: HEADERS_ZH[c] for c in cols})
    return 0
