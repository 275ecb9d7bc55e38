"""``civgis import-osm``: fill roads, green, lamps and toilets from an OpenStreetMap extract."""

from __future__ import annotations

from ._common import CliError, print_json, print_table
from .data import WS_HELP

__all__ = ["register", "cmd_import_osm"]


def register(sub) -> None:
    p = sub.add_parser("import-osm", help="从 OpenStreetMap 导入 import roads/green/lamps/toilets from an .osm.pbf",
                       description="从 OpenStreetMap 数据（.osm.pbf）导入道路、绿地、路灯、公厕，并列出每类标签的映射结果。"
                                   " Residential land is not imported (OSM has no population).")
    p.add_argument("workspace", help=WS_HELP + "，不存在时新建 created when missing")
    p.add_argument("file", help="OpenStreetMap 数据文件 .osm.pbf extract (e.g. from download.geofabrik.de or extract.bbbike.org)")
    p.add_argument("--crs", help="新工作空间的投影坐标系 projected metric CRS for a new workspace (default: chosen from the extract)")
    p.add_argument("--layers", default="roads,green,lamps,toilets",
                   help="要导入的图层（逗号分隔） comma-separated subset of roads,green,lamps,toilets")
    p.add_argument("--replace", action="append", default=[], metavar="LAYER",
                   help="允许用 OSM 数据替换已有数据的图层 allow replacing a stored layer that holds data "
                        "(repeat, or comma-separated)")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果 print the result as JSON")
    p.set_defaults(func=cmd_import_osm)


def cmd_import_osm(args) -> int:
    from civgis.store.catalogue import layer_spec  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.osm import OSM_LAYERS, import_osm, report_zh  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.validate import ValidationError  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    layers = [x.strip() for x in args.layers.split(",") if x.strip()]
    unknown = [x for x in layers if x not in OSM_LAYERS]
    if unknown or not layers:
        raise CliError(f"--layers 只能是 {', '.join(OSM_LAYERS)} 中的图层, not {', '.join(unknown) or '(none)'}")
    try:
        replace = [x.strip() for item in args.replace for x in item.split(",") if x.strip()]
        result = import_osm(args.workspace, args.file, crs=args.crs, layers=layers, replace=replace)
    except ValidationError as exc:
        raise CliError(f"导入失败，工作空间未改动 OSM import refused, workspace unchanged ({args.file})\n{exc}") from None
    except (WorkspaceError, FileNotFoundError, ValueError, KeyError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    if args.json:
        print_json(result.to_dict())
        return 0
    print(f"已从 OpenStreetMap 导入 {args.file} → {args.workspace}（坐标系 {result.crs}）")
    for report in result.imports:
        print(f"  {report.layer}（{layer_spec(report.layer).title_zh}）: {report.count} 个要素")
    for name in layers:
        if name not in result.layers:
            print(f"  {name}（{layer_spec(name).title_zh}）: 数据中没有，未写入 none in the extract, not written")
    print("\n标签映射 what was mapped to what:")
    print_table(report_zh(result.report),
                columns={"osm_tag": "OSM 标签", "layer": "图层", "value": "映射为", "count": "数量"})
    print("\n说明：路灯状态记为“未知”（OSM 无巡查状态，亮灯率为无数据）；道路宽度仅取 width 标签，是否机扫无数据；居住用地因无人口数据未导入。")
    return 0
