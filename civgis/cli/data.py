"""Workspace sub-commands: init, import, validate, layers, export."""

from __future__ import annotations

from pathlib import Path

from ._common import CliError, info, open_workspace, output_path, print_json, print_table

__all__ = ["WS_HELP", "register", "cmd_init", "parse_field_map", "parse_value_map", "cmd_import", "cmd_validate",
           "cmd_layers",
           "cmd_export", "cmd_catalogue"]


WS_HELP = "工作空间文件 workspace file (.gpkg)"


def register(sub) -> None:
    p = sub.add_parser("init", help="新建工作空间 create a workspace (one GeoPackage)")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--crs", help="投影坐标系（米），如 EPSG:4527；默认首次导入时选择"
                                 " projected metric CRS (default: chosen on first import)")
    p.add_argument("--gpkg-version", choices=["AUTO", "1.2", "1.3", "1.4"], default="AUTO",
                   help="GeoPackage 版本；QGIS 3.22 等旧版请用 1.2 GeoPackage version (1.2 for QGIS 3.22 / GDAL 3.6)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("import", help="导入图层 import a file as a layer (replaces it unless --append)")
    p.add_argument("workspace", help=WS_HELP + "，不存在时新建 created when missing")
    p.add_argument("layer", help="目录中的图层 catalogue layer: built_up zones green roads lamps toilets residential"
                                 " inspections candidates canopy")
    p.add_argument("file", help="源文件 source file (GeoPackage, Shapefile, GeoJSON, CSV, XLSX, GeoTIFF …)")
    p.add_argument("--encoding", help="文字编码，如 gbk text encoding, e.g. gbk for Shapefiles without a .cpg")
    p.add_argument("--lon", help="表格的经度/X 列 longitude/x column of a CSV/XLSX table")
    p.add_argument("--lat", help="表格的纬度/Y 列 latitude/y column of a CSV/XLSX table")
    p.add_argument("--coords", default="wgs84", choices=["wgs84", "gcj02", "bd09"],
                   help="经纬度坐标系（高德/腾讯 gcj02，百度 bd09） coordinate system of lon/lat (default wgs84)")
    p.add_argument("--field", action="append", default=[], metavar="源字段=target",
                   help="源字段映射到目录字段（可重复） map a source column to a catalogue field (repeatable)")
    p.add_argument("--crs", help="源数据缺少坐标系时指定 CRS of data that has none (e.g. EPSG:4490)")
    p.add_argument("--src-layer", help="多图层源中的图层或工作表 layer (or sheet) inside a multi-layer source")
    p.add_argument("--sheet", metavar="NAME", help="工作表 the sheet of an XLSX workbook (default: the first)")
    p.add_argument("--header-row", metavar="N", help="表头行 header row, 1-based as in Excel (3, or 3:4 for two rows); "
                                                    "default: found past title rows")
    p.add_argument("--map", nargs=2, action="append", default=[], metavar=("FIELD", "源值=code"),
                   help="取值对照 map a source value of a coded field to its code, e.g. --map category 非法小广告=0201 (repeatable)")
    p.add_argument("--create", action="store_true", help="新建工作空间 create the workspace if it does not exist")
    p.add_argument("--append", action="store_true", help="追加而不替换 add to the layer instead of replacing it")
    p.add_argument("--repair", action="store_true", help="用 make_valid 修复无效几何 repair invalid geometries")
    p.add_argument("--json", action="store_true", help="以 JSON 输出导入报告 print the import report as JSON")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("validate", help="检查工作空间 validate every layer")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--repair", action="store_true", help="用 make_valid 修复无效几何 repair invalid geometries")
    p.add_argument("--json", action="store_true", help="以 JSON 输出 print the problems as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("layers", help="图层列表 list layers with counts, CRS and extent")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--json", action="store_true", help="以 JSON 输出 print the list as JSON")
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("catalogue", help="图层目录 print the layer catalogue (fields, values, Chinese aliases)")
    p.set_defaults(func=cmd_catalogue)

    p = sub.add_parser("export", help="导出图层 export a layer to a file (format from its suffix)")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("layer", help="要导出的图层 layer to export (e.g. zones, canopy)")
    p.add_argument("file", help="目标文件，格式由扩展名决定 output file; its suffix picks the format"
                                " (.gpkg .shp .geojson .kml .csv .xlsx; .tif for canopy)")
    p.add_argument("--crs", help="导出时投影转换 reproject on export, e.g. EPSG:4326")
    p.add_argument("--encoding", help="Shapefile/CSV 文字编码 text encoding, e.g. gbk")
    p.add_argument("--gcj02", action="store_true",
                   help="点图层的 CSV/XLSX 另加 GCJ-02 经纬度列（高德、腾讯地图） add GCJ-02 lon/lat columns")
    p.set_defaults(func=cmd_export)


def cmd_init(args) -> int:
    from civgis.store.workspace import Workspace, WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    try:
        ws = Workspace.create(args.workspace, crs=args.crs, gpkg_version=args.gpkg_version)
    except WorkspaceError as exc:
        raise CliError(str(exc)) from None
    crs = ws.crs
    info(f"已创建工作空间 created {ws.path}" + (f"，坐标系 {crs.name}" if crs else "（坐标系将在首次导入时自动选择）"))
    return 0


def parse_field_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        if "=" not in item:
            raise CliError(f"--field 需要 源字段=目标字段 (source=target), not {item!r}")
        source, target = item.split("=", 1)
        mapping[source.strip()] = target.strip()
    return mapping


def parse_value_map(items: list[list[str]], layer: str) -> dict[str, dict[str, str]]:
    """``--map category 非法小广告=0201`` → ``{"category": {"非法小广告": "0201"}}``; FIELD may be its Chinese name."""
    from civgis.store.catalogue import layer_spec  # lazy: `civgis --help` 1 s, not 4 s

    try:
        aliases = layer_spec(layer).alias_map()
    except KeyError as exc:
        raise CliError(str(exc).strip("'\"")) from None
    mapping: dict[str, dict[str, str]] = {}
    for fname, item in items:
        if "=" not in item:
            raise CliError(f"--map {fname} 需要 源值=代码 (source=code), not {item!r}")
        source, code = item.split("=", 1)
        target = aliases.get(fname.strip().lower(), fname.strip())
        mapping.setdefault(target, {})[source.strip()] = code.strip()
    return mapping


def cmd_import(args) -> int:
    from civgis.store.importers import import_file  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.validate import ValidationError  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.workspace import Workspace, WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    if not Path(args.workspace).exists() and not args.create:
        raise CliError(f"工作空间不存在 workspace not found: {args.workspace} — 检查路径；新建请加 --create "
                       f"(or run: civgis init {args.workspace})")
    try:
        ws = Workspace.open_or_create(args.workspace)
        report = import_file(ws, args.layer, args.file, encoding=args.encoding, lon=args.lon, lat=args.lat,
                             coords=args.coords, field_map=parse_field_map(args.field), append=args.append,
                             crs=args.crs, repair=args.repair, src_layer=args.sheet or args.src_layer,
                             header_row=args.header_row, value_map=parse_value_map(args.map, args.layer))
    except ValidationError as exc:
        if args.json:
            print_json({"ok": False, "problems": [p.to_dict() for p in exc.problems]})
        raise CliError(f"导入失败，工作空间未改动 import refused, workspace unchanged ({args.layer} ← {args.file})\n{exc}") from None
    except (WorkspaceError, KeyError, FileNotFoundError, ValueError) as exc:
        raise CliError(naming_file(str(exc).strip("'\""), args.file, exc)) from None
    if args.json:
        print_json({"ok": True, **report.to_dict()})
    else:
        print(report)
    return 0


def naming_file(message: str, source, exc: Exception) -> str:
    """The message, led by the file's name when it does not say which file (e.g. a pandas error)."""
    from civgis.store.workspace import WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    if isinstance(exc, WorkspaceError) or str(source) in message or Path(str(source)).name in message:
        return " ".join(message.split()) if "\n" not in message.strip() else message
    return f"无法读取 cannot read {source}: {' '.join(message.split())}"


def cmd_validate(args) -> int:
    from civgis.store.validate import validate_workspace  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    problems = validate_workspace(ws, repair=args.repair)
    n_errors = sum(p.severity == "error" for p in problems)
    if args.json:
        print_json({"errors": n_errors, "problems": [p.to_dict() for p in problems]})
    else:
        for p in problems:
            print(p)
        verdict = "通过 passed" if n_errors == 0 else f"未通过 failed: {n_errors} 个错误"
        print(f"检查结果 validation {verdict}（{len(problems) - n_errors} 个警告）")
    return 1 if n_errors else 0


def cmd_layers(args) -> int:
    ws = open_workspace(args.workspace)
    table = ws.summary()
    if args.json:
        print_json(table.to_dict(orient="records"))
        return 0
    crs = ws.crs
    print(f"工作空间 {ws.path}  坐标系 {crs.name if crs else '（未设定）'}")
    if table.empty:
        print("（尚无图层 no layers yet）")
        return 0
    print_table(table, columns={"layer": "图层", "title_zh": "名称", "count": "要素数", "geometry": "几何",
                                "crs": "坐标系", "extent": "范围"})
    return 0


def cmd_export(args) -> int:
    from civgis.store.importers import export_layer  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    output_path(args.file)
    try:
        out = export_layer(ws, args.layer, args.file, crs=args.crs, encoding=args.encoding, gcj02=args.gcj02)
    except (KeyError, ValueError) as exc:
        raise CliError(str(exc).strip("'\"")) from None
    info(f"已导出 exported {args.layer} → {out}")
    return 0


def cmd_catalogue(args) -> int:
    from civgis.store.catalogue import catalogue_markdown  # lazy: `civgis --help` 1 s, not 4 s

    print(catalogue_markdown(), end="")
    return 0
