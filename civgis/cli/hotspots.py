"""``civgis hotspots``: inspection hot spots (Gi*), emerging hot spots, per-zone ranking, kernel density."""

from __future__ import annotations

from pathlib import Path

from ._common import CliError, open_workspace, output_path, print_json, print_table
from .data import WS_HELP

__all__ = ["register", "cmd_hotspots"]


def register(sub) -> None:
    p = sub.add_parser("hotspots", help="问题热点 Gi* hot spots, emerging hot spots and zone ranking of inspection cases")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--category", action="append", metavar="C",
                   help="案件类别 event code (0501), major class (05) or Chinese label (流动摊贩); repeatable")
    p.add_argument("--since", metavar="D", help="此日期及以后上报的案件 cases reported on or after this date (2025-01-01)")
    p.add_argument("--until", metavar="D", help="此日期之前上报的案件 cases reported before this date")
    p.add_argument("--cell-size", type=float, metavar="M", help="六边形网格宽度（米） hexagon width (centre to centre), metres; "
                   "default chosen from the data as ArcGIS's Optimized Hot Spot Analysis does")
    p.add_argument("--band", type=float, metavar="M", help="距离阈值（米） fixed distance band, metres (default chosen from the data)")
    p.add_argument("--by", default="month", choices=["month", "week", "none"],
                   help="新兴热点分析的时间步长 time step of the emerging hot spot analysis (default month; none = skip)")
    p.add_argument("--time-window", type=int, default=0,
                   help="时间邻域步数 previous time steps in each bin's neighbourhood (default 0; ArcGIS's default is 1)")
    p.add_argument("--no-fdr", action="store_true", help="不做 FDR 校正 bins without the false-discovery-rate correction")
    p.add_argument("--as-of", metavar="D", help="责任区排名中判定超期的日期 date for overdue cases in the zone ranking (default: last case)")
    p.add_argument("--out", required=True, metavar="DIR", help="输出目录 output folder")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果 print the result as JSON")
    p.add_argument("--gpkg-version", choices=["AUTO", "1.2", "1.3", "1.4"], default="AUTO",
                   help="hotspots.gpkg 的 GeoPackage 版本（QGIS 3.22 用 1.2） GeoPackage version of hotspots.gpkg")
    p.set_defaults(func=cmd_hotspots)


def _check_categories(categories) -> None:
    from civgis.store.catalogue import layer_spec  # lazy: `civgis --help` 1 s, not 4 s

    codes = layer_spec("inspections").fields["category"].values
    for c in categories or []:
        if c in codes or c in codes.values() or (len(c) < 4 and any(k.startswith(c) for k in codes)):
            continue
        known = "、".join(f"{k} {v}" for k, v in codes.items())
        raise CliError(f"未知案件类别 unknown category {c!r} (inspections.category); known: {known}")


def cmd_hotspots(args) -> int:
    import pandas as pd

    from civgis.analysis.hotspots import RANKING_COLUMNS_ZH  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.run.hotspots import write_hotspots  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    output_path(args.out, folder=True)
    _check_categories(args.category)
    for name in ("since", "until", "as_of"):
        value = getattr(args, name)
        if value is not None:
            try:
                pd.Timestamp(value)
            except (ValueError, TypeError):
                raise CliError(f"日期无法识别 --{name.replace('_', '-')} {value!r}: use YYYY-MM-DD") from None
    category = args.category[0] if args.category and len(args.category) == 1 else args.category
    try:
        out = write_hotspots(ws, Path(args.out), as_of=args.as_of, category=category, since=args.since,
                             until=args.until, cell_size=args.cell_size, band=args.band, fdr=not args.no_fdr,
                             by=None if args.by == "none" else args.by, time_window=args.time_window,
                             gpkg_version=args.gpkg_version)
    except (ValueError, KeyError) as exc:
        raise CliError(str(exc)) from None
    res = out.result
    if args.json:
        d = out.to_dict()
        d["files"] = {k: str(v) for k, v in out.files.items()}
        print_json(d)
        return 0
    how = res.chosen_how
    if how.get("method") == "ohsa":
        print(f"网格大小 cell size: {res.cell_size_m:.1f} m（最近邻距离 nearest-neighbour distance 均值 mean "
              f"{how['nn_mean_m']:.1f} m，中位数 median {how['nn_median_m']:.1f} m；"
              f"剔除离群点 outliers dropped: {how['n_outliers']}）" if how["nn_mean_m"] == how["nn_mean_m"]
              else f"网格大小 cell size: {res.cell_size_m:.1f} m（指定 given）")
        print(f"距离阈值 band: {res.band_m:.1f} m（{how['band_how']}）")
    else:
        print(f"网格大小 cell size: {res.cell_size_m:.1f} m，距离阈值 band: {res.band_m:.1f} m（指定 given）")
    bins = res.bin_counts()
    print(f"案件 cases: {res.n_cases}（网格外 outside {res.n_outside}），网格 cells: {len(res.cells)}；"
          f"热点 hot 99%/95%/90%: {bins[3]}/{bins[2]}/{bins[1]}，冷点 cold: {bins[-3]}/{bins[-2]}/{bins[-1]}"
          f"（{'FDR 校正' if res.fdr else '未做 FDR 校正'}）")
    if out.emerging is not None:
        from civgis.analysis.trends import CATEGORY_LABELS_ZH  # lazy: `civgis --help` 1 s, not 4 s

        e = out.emerging
        cats = "，".join(f"{CATEGORY_LABELS_ZH[k]} {v}" for k, v in e.category_counts().items() if k != "none")
        print(f"新兴热点 emerging ({e.by}, {e.periods[0]}–{e.periods[-1]}, {len(e.periods)} 步): {cats or '无'}")
    elif out.note:
        print(f"新兴热点未分析 emerging hot spots skipped: {out.note}")
    if len(out.ranking):
        print("责任区排名 zone ranking:")
        print_table(out.ranking.head(20).round(2), columns=RANKING_COLUMNS_ZH)
    for key, path in out.files.items():
        print(f"  {key}: {path}")
    return 0
