"""Responsibility-zone sub-commands: audit (coverage), zones (summary table), maps (printable patrol maps)."""

from __future__ import annotations

from ._common import CliError, info, open_workspace, output_path, print_json, print_table
from .data import WS_HELP

__all__ = ["register", "cmd_audit", "cmd_zones", "cmd_maps"]


def register(sub) -> None:
    p = sub.add_parser("audit", help="责任区覆盖检查 coverage audit: gaps (死角), overlaps, unassigned assets")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--json", action="store_true", help="以 JSON 输出检查结果 print the audit as JSON")
    p.add_argument("--sliver-m2", type=float, default=None,
                   help="小于此面积（㎡）的空隙/重叠为细碎图斑，另行列出 smaller gaps/overlaps are slivers (default 10)")
    p.add_argument("--sliver-width", type=float, default=None,
                   help="或平均宽度 2·面积/周长 小于此值（米） or thinner than this mean width (metres, default 0.5)")
    p.add_argument("--fix-gaps", action="store_true",
                   help="把每处死角并入共享边界最长的责任区 join each gap to the zone sharing the longest border (old zones kept in zones_history)")
    p.add_argument("--restore-zones", nargs="?", const="latest", metavar="VERSION",
                   help="从 zones_history 恢复责任区 put back zones from zones_history (default: the latest version)")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("zones", help="责任区台账 zone summary: area, roads, lamps, toilets, green, residents, cases")
    p.add_argument("workspace", help=WS_HELP)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="以 JSON 输出 print the table as JSON")
    out.add_argument("--csv", metavar="FILE", help="写出 CSV（带 BOM，Excel 可直接打开） write the table as CSV (UTF-8 with BOM, opens in Excel)")
    p.add_argument("--as-of", help="判定超期的参照时间（默认现在） reference time for overdue cases (default now), e.g. 2026-06-30")
    p.set_defaults(func=cmd_zones)

    p = sub.add_parser("maps", help="打印巡查图 printable patrol maps, one page per zone (PDF/PNG)")
    p.add_argument("workspace", help=WS_HELP)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--zone", action="append", metavar="ID", help="责任区编号（可重复） zone id (repeatable)")
    which.add_argument("--all", action="store_true", help="全部责任区（PDF 另合成一个多页文件） every zone (PDF: also one multi-page patrol_maps.pdf)")
    p.add_argument("--format", default="pdf", choices=["pdf", "png"], help="输出格式 output format (default pdf)")
    p.add_argument("--paper", default="A4", choices=["A4", "A3"], help="纸张大小 paper size (default A4)")
    p.add_argument("--out", default="patrol_maps", help="输出目录 output folder (default patrol_maps/)")
    p.add_argument("--dpi", type=int, default=150, help="PNG 分辨率 resolution in dpi (default 150)")
    p.add_argument("--as-of", help="判定超期的参照时间 reference time for overdue cases (default now)")
    p.set_defaults(func=cmd_maps)


def _audit_kwargs(args) -> dict:
    kw = {}
    if args.sliver_m2 is not None:
        kw["sliver_m2"] = args.sliver_m2
    if args.sliver_width is not None:
        kw["sliver_width_m"] = args.sliver_width
    return kw


def cmd_audit(args) -> int:
    from civgis.analysis.audit import audit_workspace, fix_gaps, restore_zones  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    try:
        if args.restore_zones:
            version = None if args.restore_zones == "latest" else int(args.restore_zones)
            v = restore_zones(ws, version)
            info(f"已恢复责任区版本 restored zones version {v}（恢复前的责任区已另存为 zones_history 新版本）")
            return 0
        result = audit_workspace(ws, **_audit_kwargs(args))
        if args.fix_gaps:
            applied = fix_gaps(ws, result)
            result_after = audit_workspace(ws, **_audit_kwargs(args))
            if args.json:
                print_json({"fixed": applied, "after": result_after.to_dict()})
                return 0
            for a in applied:
                target = a["zone_id"] or "（无相邻责任区，未处理）"
                print(f"死角 {a['gap_id']}  {a['area_m2']:.1f} ㎡ → {target}")
            info(f"已修复 fixed；原责任区已备份到 zones_history；撤销 undo: civgis audit {ws.path} --restore-zones")
            result = result_after
    except (WorkspaceError, ValueError) as exc:
        raise CliError(str(exc)) from None

    if args.json:
        print_json(result.to_dict())
        return 0
    _print_audit(result)
    return 0


def _print_audit(result) -> None:
    import pandas as pd

    d = result.to_dict()
    s = d["summary"]
    print(f"建成区面积 {s['built_up_area_m2'] / 1e6:.3f} 平方千米，责任区覆盖 {s['coverage_ratio'] * 100:.2f}%")
    print(f"\n死角（未划入任何责任区） {len(d['gaps'])} 处，共 {s['gap_area_m2']:.1f} ㎡")
    if d["gaps"]:
        print_table(pd.DataFrame([{**g, "x": g["centroid"][0], "y": g["centroid"][1],
                                   "neighbours": "、".join(g["neighbours"]) or "—",
                                   "suggested_zone": g["suggested_zone"] or "—"} for g in d["gaps"]]),
                    columns={"gap_id": "编号", "area_m2": "面积(㎡)", "x": "X", "y": "Y",
                             "neighbours": "相邻责任区", "suggested_zone": "建议归属"})
    print(f"\n重叠（多个责任区） {len(d['overlaps'])} 处，共 {s['overlap_area_m2']:.1f} ㎡")
    if d["overlaps"]:
        print_table(pd.DataFrame([{**o, "x": o["centroid"][0], "y": o["centroid"][1],
                                   "zones": "、".join(o["zones"])} for o in d["overlaps"]]),
                    columns={"overlap_id": "编号", "area_m2": "面积(㎡)", "x": "X", "y": "Y", "zones": "涉及责任区"})
    if d["slivers"]:
        kinds = {"gap": "缝隙", "overlap": "重叠"}
        print(f"\n细碎图斑（< {s['sliver_m2']:g} ㎡ 或宽 < {s['sliver_width_m']:g} 米） {len(d['slivers'])} 处")
        shown = sorted(d["slivers"], key=lambda x: -x["area_m2"])[:20]
        print_table(pd.DataFrame([{**x, "kind": kinds[x["kind"]], "zones": "、".join(x["zones"])} for x in shown]),
                    columns={"kind": "类型", "area_m2": "面积(㎡)", "width_m": "平均宽度(米)", "zones": "相关责任区"})
        if len(d["slivers"]) > len(shown):
            print(f"（仅列出面积最大的 {len(shown)} 处；全部见 --json）")
    from civgis.store.catalogue import layer_spec  # lazy: `civgis --help` 1 s, not 4 s

    for layer, ids in d["unassigned"].items():
        if ids:
            title = layer_spec(layer).title_zh + ("（未结）" if layer == "inspections" else "")
            inside = d["unassigned_in_built_up"].get(layer, [])
            shown = "、".join(inside[:20]) + (f" … 共 {len(inside)} 个" if len(inside) > 20 else "")
            print(f"\n不在任何责任区内的{title}：{len(ids)} 个，其中建成区内 {len(inside)} 个" +
                  (f"：{shown}" if inside else ""))
    if d["zones_missing_contact"]:
        labels = {"staff": "责任人", "phone": "联系电话"}
        print("\n缺少责任人或电话的责任区：")
        for z in d["zones_missing_contact"]:
            print(f"  {z['zone_id']} {z['name'] or ''}：缺{'、'.join(labels.get(m, m) for m in z['missing'])}")
    if result.ok:
        print("\n全覆盖、无死角、无重叠 ✓")
    elif d["gaps"]:
        print("\n可用 --fix-gaps 将每处死角并入共享边界最长的相邻责任区")


#: zone summary columns holding counts (whole numbers; NaN where the layer or the lamps' states are missing)
COUNT_COLUMNS = ("lamps", "lamps_broken", "toilets", "residents", "cases_open", "cases_overdue")


def _shown(table):
    """The summary as printed and written to CSV: lengths and areas to 0.1, counts whole, missing as 无数据."""
    shown = table.copy()
    for c in shown:
        measured = c.endswith("_m2") or c.startswith("road_m")
        if measured or c in COUNT_COLUMNS:
            values = shown[c].round(1) if measured else shown[c].round(0).astype("Int64")
            shown[c] = values.astype(object).where(shown[c].notna(), "无数据")  # missing is not a blank or 0
    return shown


def cmd_zones(args) -> int:
    from civgis.analysis.zones import columns_zh, zone_summary  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.inert import inert_frame  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    if args.csv:
        output_path(args.csv)
    try:
        table = zone_summary(ws, as_of=args.as_of)
    except (WorkspaceError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(table.astype(object).where(table.notna(), None).to_dict(orient="records"))
        return 0
    shown = _shown(table)
    if args.csv:
        inert_frame(shown.rename(columns=columns_zh())).to_csv(args.csv, index=False, encoding="utf-8-sig")
        info(f"已写出 written {args.csv}（{len(shown)} 个责任区 zones）")
        return 0
    cols = {c: h for c, h in columns_zh().items() if c in shown}
    print_table(shown.fillna("—"), columns=cols)
    return 0


def cmd_maps(args) -> int:
    from civgis.render.fonts import RenderError  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.render.printmaps import render_patrol_maps  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    output_path(args.out, folder=True)
    try:
        paths = render_patrol_maps(ws, None if args.all else args.zone, args.out, fmt=args.format, paper=args.paper,
                                   progress=True, as_of=args.as_of, dpi=args.dpi)
    except (RenderError, WorkspaceError) as exc:
        raise CliError(str(exc)) from None
    for p in paths:
        print(p)
    info(f"已生成 {len(paths)} 个文件 files written to {args.out}")
    return 0
