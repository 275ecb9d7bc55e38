"""``civgis webmap``: interactive HTML maps (county + one per zone), offline by default."""

from __future__ import annotations

from ._common import CliError, info, open_workspace, output_path, print_json
from .data import WS_HELP

__all__ = ["register", "run"]


def register(sub) -> None:
    p = sub.add_parser(
        "webmap",
        help="交互式网页地图（全县 + 每个责任区），默认离线可用 interactive HTML maps, offline by default",
        description="生成全县及各包保责任区的交互式网页地图。默认离线模式：不加载任何在线瓦片，"
                    "以工作空间自己的道路、居住用地和绿地作底图，Leaflet 随页面一起写入 OUT/lib/，断网可用。"
                    "打开时显示建成区范围：责任区、空隙和重叠、超期案件、故障路灯、公厕；正常路灯放大到 16 级显示；"
                    "比例尺为米/千米，图例只列页面上有的要素。"
                    " Offline by default: no tiles, the workspace itself as the base map, Leaflet in OUT/lib/.",
    )
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--out", required=True, help="输出目录 output folder (county.html, zone_<编号>.html, index.html, lib/)")
    p.add_argument("--zone", action="append", metavar="ID",
                   help="只生成这个责任区的地图（可重复） only this zone (repeatable); default: the county and every zone")
    p.add_argument("--basemap", choices=("offline", "osm", "tianditu", "amap"), default="offline",
                   help="底图 base map: offline 离线（默认）/ osm / tianditu 天地图（需 --tianditu-key）/ amap 高德（数据偏移到 GCJ-02）")
    p.add_argument("--tianditu-key", metavar="K", help="天地图密钥 Tianditu key (console.tianditu.gov.cn)")
    p.add_argument("--toilet-radius", type=float, default=None, metavar="M",
                   help="公厕服务半径（米），默认读目标文件 toilet_radius_m toilet service radius in metres (default: the targets file, 300)")
    p.add_argument("--cases", choices=("open", "all", "none"), default="open",
                   help="地图带上的巡查案件 cases on the map: open 超期案件（打开即显示）+ 其他未结案（默认）/ all 截止日前的全部 / none 不带")
    p.add_argument("--as-of", dest="as_of", metavar="DATE",
                   help="判定超期案件的日期（默认今天） date that decides which cases are overdue (default: today)")
    p.add_argument("--no-audit", action="store_true", help="不标出责任区空隙和重叠 do not mark zone gaps and overlaps")
    p.add_argument("--json", action="store_true", help="以 JSON 输出生成的文件列表 print the files written as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from civgis.render import webmap  # lazy: `civgis --help` 1 s, not 4 s

    from civgis.analysis.cases import as_of_instant  # lazy: as above

    if args.as_of is not None:
        try:
            as_of_instant(args.as_of)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    ws = open_workspace(args.workspace)
    output_path(args.out, folder=True)
    if not ws.has("zones") and args.zone:
        raise CliError(f"工作空间 {ws.path.name} 没有责任区图层 zones; import it first")
    try:
        if args.zone:
            webmap._check_basemap(args.basemap, args.tianditu_key or None)
            gaps, overlaps = webmap._resolve_audit(None if args.no_audit else "auto", None, None, ws)
            data = webmap.prepare_map_data(webmap.load_map_layers(ws), crs=ws.crs, gaps=gaps, overlaps=overlaps,
                                           basemap=args.basemap, tianditu_key=args.tianditu_key,
                                           toilet_radius_m=webmap._toilet_radius(ws, args.toilet_radius),
                                           cases=args.cases, as_of=args.as_of)
            webmap.write_assets(args.out)
            paths = webmap.write_zone_pages(data, args.zone, args.out, progress=False)
        else:
            paths = webmap.write_all_maps(ws, args.out, basemap=args.basemap, tianditu_key=args.tianditu_key,
                                          audit=None if args.no_audit else "auto",
                                          toilet_radius_m=args.toilet_radius, cases=args.cases,
                                          as_of=args.as_of)
    except webmap.WebmapError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json({"maps": [str(p) for p in paths], "basemap": args.basemap})
    else:
        info(f"已生成 {len(paths)} 张地图 maps written（底图 base map：{args.basemap}）→ {Path(args.out).resolve()}")
        for p in paths:
            print(p)
    return 0
