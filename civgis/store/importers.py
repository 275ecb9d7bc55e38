"""Importers and exporters: the files a bureau brings, into the workspace and back out.

Readers (:func:`read_source`):

* vector files through pyogrio/GDAL — GeoPackage, Shapefile (its ``.cpg`` is honoured; pass
  ``encoding="gbk"`` for the many GBK files without one), GeoJSON, FlatGeobuf, KML;
* tables with coordinate columns — CSV and XLSX — in WGS84, GCJ-02 or BD-09
  (``coords=``; converted to WGS84 by :mod:`civgis.store.coords`). Coordinate columns are found by
  name (``lon/lng/longitude/x/经度``, ``lat/latitude/y/纬度``) unless given.

:func:`import_file` / :func:`import_frame` then conform the columns to the catalogue, validate,
reproject to the workspace CRS (choosing it on the first import) and write atomically. With
errors nothing is written and :class:`~civgis.store.validate.ValidationError` lists every problem.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from civgis.store.catalogue import layer_spec, load_workspace_vocabulary
from civgis.store.coords import COORD_SYSTEMS, parse_angles, to_wgs84
from civgis.store.crs import choose_crs_for, infer_gauss_kruger, outside_area_of_use, workspace_crs_for
from civgis.store.encodings import EncodingUnsure, guess_encoding, sniff_dbf
from civgis.store.spreadsheets import spreadsheet_frame, write_table
from civgis.store.sheets import (HEADER_SEARCH_ROWS, find_header, read_csv_grid, read_grid, sniff_delimiter,
                                 tidy_body)
from civgis.store.qgis_style import layer_qml, write_layer_styles
from civgis.store.validate import Problem, ValidationError, check, errors, validate_layer
from civgis.store.workspace import CANOPY_BAND, LayerMissingError, Workspace

__all__ = ["TABLE_SUFFIXES", "RASTER_SUFFIXES", "LON_NAMES", "LAT_NAMES", "EXTENT_MARGIN_M", "CRS_MARGIN_DEG",
           "SPREADSHEET_SUFFIXES", "VECTOR_DRIVERS", "ImportReport", "read_source", "read_table", "shift_geometries", "import_file",
           "import_frame", "merge_value_maps", "import_raster", "export_layer"]

TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls"}
RASTER_SUFFIXES = {".tif", ".tiff", ".vrt", ".img"}
LON_NAMES = ["lon", "lng", "long", "longitude", "x", "经度", "东经", "经度坐标", "x坐标"]
LAT_NAMES = ["lat", "latitude", "y", "纬度", "北纬", "纬度坐标", "y坐标"]
#: how far outside the built-up area a feature may lie before it is called outside the extent
EXTENT_MARGIN_M = 5000.0
#: a feature this many degrees beyond the workspace CRS's area of use is refused (a county may
#: straddle its Gauss-Krüger zone's edge a little)
CRS_MARGIN_DEG = 1.5

#: export formats written as spreadsheet tables (Chinese headers, text ids, 经度/纬度)
SPREADSHEET_SUFFIXES = {".csv", ".xlsx"}

VECTOR_DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON",
                  ".fgb": "FlatGeobuf", ".kml": "KML", ".csv": "CSV"}


@dataclass
class ImportReport:
    """What an import did: the layer, how many features, which columns were mapped, warnings."""
    layer: str
    source: str
    count: int
    crs: str
    columns: dict[str, str] = field(default_factory=dict)
    coords: str | None = None
    repaired: int = 0
    appended: bool = False
    problems: list[Problem] = field(default_factory=list)
    #: the text encoding used and why (sniffed or given), for CSV and shapefiles
    encoding: str | None = None
    #: what the reader decided: header row, dropped totals rows, DMS columns, inferred CRS …
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        spec = layer_spec(self.layer)
        mode = "追加" if self.appended else "导入"
        lines = [f"{mode} {self.layer}（{spec.title_zh}）: {self.count} 个要素 ← {self.source}  [{self.crs}]"]
        if self.columns:
            mapped = ", ".join(f"{src}→{dst}" for src, dst in self.columns.items() if src != dst)
            if mapped:
                lines.append(f"  字段映射 fields: {mapped}")
        if self.encoding:
            lines.append(f"  编码 encoding: {self.encoding}")
        lines += [f"  {note}" for note in self.notes]
        if self.coords and self.coords != "wgs84":
            lines.append(f"  坐标已由 {self.coords.upper()} 转换为 WGS84")
        if self.repaired:
            lines.append(f"  已修复 {self.repaired} 个无效几何 (make_valid)")
        for p in self.problems:
            lines.append(f"  {p}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"layer": self.layer, "source": self.source, "count": self.count, "crs": self.crs,
                "columns": self.columns, "coords": self.coords, "repaired": self.repaired,
                "appended": self.appended, "problems": [p.to_dict() for p in self.problems],
                "encoding": self.encoding, "notes": self.notes}


# ---------------------------------------------------------------------- reading
def read_source(source: str | os.PathLike, *, layer_name: str = "?", src_layer=None, encoding=None,
                lon=None, lat=None, coords: str = "wgs84", crs=None, header_row=None) -> gpd.GeoDataFrame:
    """Read any supported vector file or coordinate table as a GeoDataFrame (columns as in the file).

    What the reader decided is in ``gdf.attrs``: ``"encoding"`` (used and why) and ``"notes"``
    (header row, dropped rows, DMS columns, an inferred CRS) — the import report prints them.
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"文件不存在 file not found: {path}")
    if path.suffix.lower() in TABLE_SUFFIXES:
        return read_table(path, layer_name=layer_name, sheet=src_layer, encoding=encoding,
                          lon=lon, lat=lat, coords=coords, crs=crs, header_row=header_row)
    kwargs, used = {}, None
    if path.suffix.lower() == ".shp" and not path.with_suffix(".cpg").exists():
        used = _shapefile_encoding(path, layer_name, encoding)
        kwargs["encoding"] = used.split(" ")[0]  # a .cpg in the file set wins, as GDAL intends
    elif encoding and path.suffix.lower() != ".shp":
        kwargs["encoding"] = encoding
    gdf = pyogrio.read_dataframe(path, layer=src_layer, **kwargs)
    notes = []
    if gdf.crs is None and crs is not None:
        gdf = gdf.set_crs(crs)
    elif gdf.crs is None and len(gdf):
        gdf, note = _infer_missing_crs(gdf, layer_name, path)
        notes += [note] if note else []
    if coords != "wgs84":
        gdf = shift_geometries(gdf, coords)
    gdf.attrs.update(encoding=used, notes=notes)
    return gdf


def _shapefile_encoding(path: Path, layer_name: str, encoding) -> str:
    """The .dbf encoding of a shapefile without a .cpg: as given, else sniffed (refused when unsure)."""
    if encoding:
        return f"{encoding} (--encoding)"
    dbf = path.with_suffix(".dbf")
    if not dbf.exists():
        return "utf-8"
    try:
        guess = sniff_dbf(dbf)
    except EncodingUnsure as exc:
        raise ValidationError([Problem(layer_name, None, None, "unknown_encoding",
                                       f"{path.name} 没有 .cpg，编码无法判断 (no .cpg and the encoding is unclear)",
                                       str(exc))]) from None
    return f"{guess.encoding} (无 .cpg，自动判断：{guess.reason})"


def _infer_missing_crs(gdf: gpd.GeoDataFrame, layer_name: str, path: Path) -> tuple[gpd.GeoDataFrame, str | None]:
    """No .prj: longitude/latitude stays for the 'missing CRS' check; prefixed GK eastings get their zone."""
    x0, y0, x1, y1 = gdf.total_bounds
    if max(abs(x0), abs(x1)) <= 180 and max(abs(y0), abs(y1)) <= 90:
        return gdf, None
    try:
        found, note = infer_gauss_kruger([x0, x1], [y0, y1])
    except ValueError as exc:
        raise ValidationError([Problem(layer_name, None, None, "missing_crs",
                                       f"{path.name} 缺少坐标系 (no .prj)", str(exc))]) from None
    return gdf.set_crs(found), note


def read_table(path: Path, *, layer_name: str = "?", sheet=None, encoding=None, lon=None, lat=None,
               coords: str = "wgs84", crs=None, header_row=None) -> gpd.GeoDataFrame:
    """A CSV/XLSX table with coordinate columns as points in WGS84 (or ``crs`` for projected x/y).

    The header is found past title rows (or given: ``header_row``), totals rows at the end are
    dropped (:mod:`civgis.store.sheets`); coordinates may be degrees-minutes-seconds text
    (:func:`~civgis.store.coords.parse_angles`) or zone-prefixed Gauss-Krüger metres
    (:func:`~civgis.store.crs.infer_gauss_kruger`).
    """
    coords = coords.lower().replace("-", "")
    if coords not in COORD_SYSTEMS:
        raise ValueError(f"未知坐标系 unknown --coords {coords!r}; use one of {', '.join(COORD_SYSTEMS)}")
    used = None
    try:
        if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
            df, notes = _read_sheet(path, sheet, header_row)
        else:
            df, notes, used = _read_csv(path, encoding, header_row, layer_name)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError([Problem(layer_name, None, None, "bad_table", f"{path.name}: {exc}",
                                       "give the header row with --header-row N (and the sheet with --sheet NAME)")]) from None
    df.columns = [str(c).strip() for c in df.columns]
    lon_col = lon or _find_column(df, LON_NAMES)
    lat_col = lat or _find_column(df, LAT_NAMES)
    for wanted, found, flag in ((lon, lon_col, "--lon"), (lat, lat_col, "--lat")):
        if found is None or found not in df.columns:
            raise ValidationError([Problem(layer_name, None, wanted or flag[2:], "missing_coordinates",
                                           "找不到坐标列 no coordinate column found",
                                           f"name it with {flag} COLUMN; columns are: {', '.join(df.columns)}")])
    x, x_note = _coordinate_values(df[lon_col], lon_col)
    y, y_note = _coordinate_values(df[lat_col], lat_col)
    notes += [n for n in (x_note, y_note) if n]
    bad = x.isna() | y.isna()
    if bad.any():
        spec_id = layer_spec(layer_name).id_field if layer_name != "?" else None
        ids = df[spec_id].astype(str) if spec_id and spec_id in df else None
        problems = [Problem(layer_name, ids[i] if ids is not None else f"第{i + 1}行",
                            lon_col if pd.isna(x[i]) else lat_col, "bad_coordinate",
                            "坐标缺失或不是数字 coordinate missing or not a number",
                            "fill in the coordinates or delete the row") for i in np.flatnonzero(bad)]
        raise ValidationError(problems)
    if crs is not None:
        source_crs = CRS.from_user_input(crs)
    elif x.abs().max() <= 180 and y.abs().max() <= 180:  # degrees (swapped lat/lon is caught by validate)
        source_crs = CRS.from_epsg(4326)
    else:
        try:
            source_crs, note = infer_gauss_kruger(x.to_numpy(), y.to_numpy())
        except ValueError as exc:
            raise ValidationError([Problem(layer_name, None, lon_col, "missing_crs",
                                           "坐标不是经纬度 coordinates are not longitude/latitude", str(exc))]) from None
        notes.append(note)
    if source_crs.is_geographic and coords != "wgs84":
        x, y = to_wgs84(x.to_numpy(), y.to_numpy(), coords)
    geometry = gpd.points_from_xy(np.asarray(x, float), np.asarray(y, float))
    out = gpd.GeoDataFrame(df.drop(columns=[lon_col, lat_col]), geometry=geometry, crs=source_crs)
    out.attrs.update(encoding=used, notes=notes)
    return out


def _coordinate_values(column: pd.Series, name: str) -> tuple[pd.Series, str | None]:
    """Numbers, or degrees from DMS text (``116°55′20.78″E``) when the numbers fail."""
    numbers = pd.to_numeric(column, errors="coerce")
    failed = column.notna() & numbers.isna()
    if not failed.any():
        return numbers, None
    angles = pd.Series(parse_angles(column.astype("string").to_numpy()), index=column.index)
    converted = failed & angles.notna()
    if not converted.any():
        return numbers, None
    return numbers.where(~failed, angles), f"{name} 列 {int(converted.sum())} 个度分秒值已换算为十进制度"


def _read_sheet(path: Path, sheet, header_row) -> tuple[pd.DataFrame, list[str]]:
    """An Excel sheet: merged cells filled, header found, totals dropped."""
    if path.suffix.lower() == ".xls":  # the old binary format: no merge information
        rows = pd.read_excel(path, sheet_name=sheet or 0, header=None).astype(object).values.tolist()
        merges = []
    else:
        rows, merges = read_grid(path, sheet)
    first, last, names, notes = find_header(rows[:HEADER_SEARCH_ROWS + 30], merges, header_row=header_row)
    body = pd.DataFrame(rows[last + 1:], dtype=object)
    df, more = tidy_body(body, names)
    if sheet is not None:
        notes.insert(0, f"工作表 {sheet}")
    return df, notes + more


def _read_csv(path: Path, encoding, header_row, layer_name: str) -> tuple[pd.DataFrame, list[str], str]:
    """A CSV in UTF-8 or GBK (sniffed unless given), header found past title lines, totals dropped."""
    raw = path.read_bytes()
    if encoding:
        chosen, used = encoding, f"{encoding} (--encoding)"
    else:
        try:
            guess = guess_encoding(raw, source=path.name)
        except EncodingUnsure as exc:
            raise ValidationError([Problem(layer_name, None, None, "unknown_encoding",
                                           f"{path.name} 编码无法判断 the encoding is unclear", str(exc))]) from None
        chosen, used = guess.encoding, f"{guess.encoding} (自动判断：{guess.reason})"
    try:
        text = raw.decode(chosen)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ValidationError([Problem(layer_name, None, None, "unknown_encoding",
                                       f"{path.name} 不能按 {chosen} 解码 cannot be decoded as {chosen}: {exc}",
                                       "check --encoding (gbk, utf-8)")]) from None
    text = text.lstrip("\ufeff")
    head = "\n".join(text.splitlines()[:HEADER_SEARCH_ROWS + 30])
    delimiter = sniff_delimiter(head)
    first, last, names, notes = find_header(read_csv_grid(head, delimiter), header_row=header_row)
    body = pd.read_csv(io.StringIO(text), header=None, skiprows=last + 1, dtype=str, keep_default_na=False,
                       names=list(range(len(names))), sep=delimiter, skip_blank_lines=False)
    df, more = tidy_body(body, names)
    return df, notes + more, used


def _find_column(df: pd.DataFrame, names: list[str]) -> str | None:
    lower = {c.lower(): c for c in df.columns}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def shift_geometries(gdf: gpd.GeoDataFrame, coords: str) -> gpd.GeoDataFrame:
    """Vector data digitised on a GCJ-02/BD-09 web map: shift every vertex to WGS84."""
    import shapely

    if gdf.crs is None or not CRS.from_user_input(gdf.crs).is_geographic:
        raise ValueError("--coords gcj02/bd09 applies to longitude/latitude data")
    out = gdf.to_crs(4326)
    xy = shapely.get_coordinates(out.geometry.values)
    lon, lat = to_wgs84(xy[:, 0], xy[:, 1], coords)
    out[out.geometry.name] = shapely.set_coordinates(out.geometry.values.copy(), np.c_[lon, lat])
    return out


# ---------------------------------------------------------------------- importing
def import_file(ws: Workspace | str | os.PathLike, layer: str, source: str | os.PathLike, *,
                encoding=None, lon=None, lat=None, coords: str = "wgs84", field_map=None,
                append: bool = False, crs=None, repair: bool = False, src_layer=None, header_row=None,
                value_map=None, create: bool = True) -> ImportReport:
    """Read ``source`` and import it as ``layer`` (see :func:`import_frame`). Rasters go to :func:`import_raster`.

    ``header_row`` (1-based, ``"3:4"`` for two rows) and ``src_layer`` (the sheet) override the
    detection of :mod:`civgis.store.sheets`; ``value_map`` is ``{field: {source value: code}}``.
    A workspace path that does not exist is created only with ``create`` (the CLI's ``--create``).
    """
    if not isinstance(ws, Workspace):
        ws = Workspace.open_or_create(ws) if create else Workspace(ws)
    spec = layer_spec(layer)
    if spec.kind == "raster" or Path(source).suffix.lower() in RASTER_SUFFIXES:
        if spec.kind != "raster":
            raise ValidationError([Problem(layer, None, None, "wrong_kind",
                                           f"{layer} 是矢量图层，不能导入栅格 is a vector layer; {source} is a raster", "")])
        return import_raster(ws, layer, source, crs=crs)
    gdf = read_source(source, layer_name=layer, src_layer=src_layer, encoding=encoding, lon=lon, lat=lat,
                      coords=coords, crs=crs, header_row=header_row)
    read_notes = {"encoding": gdf.attrs.get("encoding"), "notes": list(gdf.attrs.get("notes", []))}
    report = import_frame(ws, layer, gdf, field_map=field_map, append=append, repair=repair,
                          source=str(source), value_map=value_map)
    report.coords = coords
    report.encoding = read_notes["encoding"]
    report.notes = read_notes["notes"] + report.notes
    return report


def import_frame(ws: Workspace, layer: str, gdf: gpd.GeoDataFrame, *, field_map=None, append: bool = False,
                 repair: bool = False, source: str = "<GeoDataFrame>", value_map=None,
                 check_extent: bool = True) -> ImportReport:
    """Conform, validate, reproject and write one layer atomically; refuse it whole on any error.

    Coded values are looked up in the catalogue (codes, labels, vocabulary aliases), then in the
    workspace vocabulary (``<workspace>.vocabulary.toml``), then in ``value_map`` (the last wins).

    CRS guard (first import included): every feature must fall in the area of use of its own CRS
    and of the workspace CRS (± ``CRS_MARGIN_DEG``), and — once the workspace holds data — within
    ``EXTENT_MARGIN_M`` of its extent (the built-up area, else all layers; ``check_extent=False``
    skips this for a caller that filtered against a snapshot of the extent itself).
    """
    spec = layer_spec(layer)
    raw_columns = [c for c in gdf.columns if c != gdf.geometry.name]
    existing = None
    if append and ws.has(layer) and spec.id_field:
        existing = ws.read(layer, columns=[spec.id_field])[spec.id_field].dropna().tolist()
    values = merge_value_maps(load_workspace_vocabulary(ws.path).get(layer, {}), value_map or {})
    map_problems = _check_value_map(values, spec)
    if map_problems:
        raise ValidationError(map_problems)
    conformed, problems, repaired = check(gdf, spec, field_map=field_map, value_map=values, repair=repair,
                                          existing_ids=existing)
    mapped = _column_mapping(raw_columns, conformed, spec, field_map or {})
    if errors(problems):
        raise ValidationError(problems)
    ws_crs = ws.crs
    crs_problems = _crs_problems(conformed, spec, None)
    if crs_problems:
        raise ValidationError(problems + crs_problems)
    notes = []
    if ws_crs:
        target_crs = ws_crs
    else:
        target_crs, note = workspace_crs_for(conformed)
        notes += [note] if note else []
    crs_problems = _crs_problems(conformed, spec, target_crs)
    if crs_problems:
        raise ValidationError(problems + crs_problems)
    projected = conformed.to_crs(target_crs)
    extent = ws.extent(buffer_m=EXTENT_MARGIN_M) if check_extent and layer != "built_up" and ws.layers() else None
    if extent is not None:
        problems += validate_layer(projected, spec, extent=extent, check_crs=False)
        problems = _dedupe(problems)
        if errors(problems):
            raise ValidationError(problems)
    ws.write(layer, projected, append=append, source=source, init_crs=None if ws_crs else target_crs)
    mapped_values = {f: m for f, m in values.items() if f in conformed}
    if mapped_values:
        notes.append("取值对照 value map: " + "; ".join(f"{f}: " + ", ".join(f"{k}→{v}" for k, v in m.items())
                                                   for f, m in mapped_values.items()))
    return ImportReport(layer=layer, source=source, count=len(projected), crs=_crs_label(target_crs),
                        columns=mapped, repaired=repaired, appended=append,
                        problems=[p for p in problems if p.severity != "error"], notes=notes)


def _check_value_map(values: dict[str, dict[str, str]], spec) -> list[Problem]:
    """Every ``--map FIELD 源值=code`` names a coded field of the layer and one of its codes."""
    problems = []
    for fname, mapping in values.items():
        fspec = spec.fields.get(fname)
        if fspec is None or not fspec.values:
            coded = ", ".join(n for n, f in spec.fields.items() if f.values)
            problems.append(Problem(spec.name, None, fname, "bad_value_map",
                                    f"--map {fname}: 不是 {spec.name} 的代码字段 not a coded field",
                                    f"coded fields are: {coded or '（无）'}"))
            continue
        for src, code in mapping.items():
            if code not in fspec.values:
                allowed = "、".join(f"{c} {label}" for c, label in fspec.values.items())
                problems.append(Problem(spec.name, None, fname, "bad_value_map",
                                        f"--map {fname} {src}={code}: 未知代码 unknown code {code!r}",
                                        f"codes are: {allowed}"))
    return problems


def _crs_problems(gdf: gpd.GeoDataFrame, spec, crs) -> list[Problem]:
    """Features outside the area of use of their own CRS (``crs`` None) or of the workspace CRS ``crs``."""
    if gdf.crs is None or not len(gdf):
        return []
    target = CRS.from_user_input(crs if crs is not None else gdf.crs)
    bad = outside_area_of_use(gdf, target, margin_deg=0.0 if crs is None else CRS_MARGIN_DEG)
    if not bad.any():
        return []
    ids = gdf[spec.id_field] if spec.id_field and spec.id_field in gdf else pd.Series(gdf.index, index=gdf.index)
    first = ids[bad].astype(str).head(5).tolist()
    area = target.area_of_use.name if target.area_of_use is not None else "WGS84"
    if crs is None:
        message = (f"{int(bad.sum())} 个要素的坐标不在其坐标系 {target.name} 的适用范围（{area}）内"
                   f" coordinates outside the CRS's area of use (first: {', '.join(first)})")
        hint = ("the CRS does not match the numbers: longitude/latitude is EPSG:4326 or EPSG:4490, "
                "Gauss-Krüger metres carry the zone in the easting; fix --crs or the file's .prj")
    else:
        message = (f"{int(bad.sum())} 个要素远离工作空间坐标系 {target.name} 的适用范围（{area}）"
                   f" features far outside the workspace CRS's area (first: {', '.join(first)})")
        hint = "a stray point, or data from another place: remove or correct these features"
    return [Problem(spec.name, first[0] if len(first) == 1 else None, None, "outside_crs_area", message, hint)]


def merge_value_maps(*maps: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """``{field: {source value: code}}`` dictionaries merged field by field (later ones win)."""
    out: dict[str, dict[str, str]] = {}
    for mapping in maps:
        for fname, values in mapping.items():
            out.setdefault(fname, {}).update(values)
    return out


def _column_mapping(raw_columns, conformed, spec, field_map) -> dict[str, str]:
    aliases = spec.alias_map()
    mapping = {}
    for column in raw_columns:
        target = field_map.get(column) or (column if column in spec.fields else aliases.get(str(column).strip().lower()))
        if target and target in conformed.columns:
            mapping[str(column)] = target
    return mapping


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _crs_label(crs) -> str:
    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} {crs.name}" if epsg else crs.name


def import_raster(ws: Workspace, layer: str, source: str | os.PathLike, *, crs=None) -> ImportReport:
    """Import a vegetation-cover GeoTIFF (0/1 or fraction 0–1) into the workspace CRS.

    Reprojection uses average resampling, so fractional cover is preserved in area terms.
    Values outside [0, 1] (other than nodata) are refused: a 0–100 percentage raster must be
    divided by 100 first.
    """
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    spec = layer_spec(layer)
    with rasterio.open(source) as src:
        src_crs = src.crs or (CRS.from_user_input(crs) if crs else None)
        if src_crs is None:
            raise ValidationError([Problem(layer, None, None, "missing_crs", "栅格缺少坐标系 the raster has no CRS",
                                           "give it with --crs")])
        data = src.read(1, masked=True).astype("float32")
        data = np.ma.masked_invalid(data)
        lo, hi = spec.value_range or (0.0, 1.0)
        values = data.compressed()
        if values.size == 0:
            raise ValidationError([Problem(layer, None, "value", "all_nodata",
                                           f"栅格 {Path(source).name} 全部为无数据像元 every pixel is nodata",
                                           "export the raster again with its values (check the nodata value)")])
        if values.size and (values.min() < lo or values.max() > hi):
            hint = "divide a 0–100 percentage raster by 100" if values.max() <= 100 else "expected 0/1 or 0–1 cover"
            raise ValidationError([Problem(layer, None, "value", "out_of_range",
                                           f"栅格取值超出 [{lo}, {hi}]: {values.min():g}…{values.max():g}", hint)])
        target = ws.crs or (CRS.from_user_input(src_crs) if CRS.from_user_input(src_crs).is_projected
                            else choose_crs_for(gpd.GeoSeries(gpd.points_from_xy(
                                [(src.bounds.left + src.bounds.right) / 2], [(src.bounds.top + src.bounds.bottom) / 2]),
                                crs=src_crs)))
        nodata = -1.0
        filled = data.filled(nodata)
        if CRS.from_user_input(src_crs).equals(target):
            array, transform = filled, src.transform
        else:
            transform, width, height = calculate_default_transform(src_crs, target, src.width, src.height,
                                                                   *src.bounds)
            array = np.full((height, width), nodata, dtype="float32")
            reproject(filled, array, src_transform=src.transform, src_crs=src_crs, dst_transform=transform,
                      dst_crs=target, src_nodata=nodata, dst_nodata=nodata, resampling=Resampling.average)
    _check_raster_extent(ws, layer, source, array, transform, nodata)
    ws.write_raster(layer, array, transform, nodata=nodata, source=str(source),
                    init_crs=None if ws.crs else target)
    return ImportReport(layer=layer, source=str(source), count=int((array != nodata).sum()),
                        crs=_crs_label(target))


def _check_raster_extent(ws: Workspace, layer: str, source, array: np.ndarray, transform, nodata: float) -> None:
    """Refuse a raster whose valid pixels all lie away from the workspace's data (off-county)."""
    if ws.crs is None or not ws.layers():
        return
    rows, cols = np.nonzero(array != nodata)
    if len(rows) == 0:
        raise ValidationError([Problem(layer, None, "value", "all_nodata",
                                       f"栅格 {Path(source).name} 重投影后全部为无数据 every pixel is nodata",
                                       "check the raster's CRS and nodata value")])
    x0, y0 = transform @ (cols.min(), rows.max() + 1)
    x1, y1 = transform @ (cols.max() + 1, rows.min())
    e = ws.extent(buffer_m=EXTENT_MARGIN_M)
    if min(x0, x1) > e[2] or max(x0, x1) < e[0] or min(y0, y1) > e[3] or max(y0, y1) < e[1]:
        raise ValidationError([Problem(layer, None, None, "off_extent",
                                       f"栅格 {Path(source).name} 不在工作空间范围内 the raster lies outside the workspace "
                                       f"extent (± {EXTENT_MARGIN_M / 1000:g} km)",
                                       "check the raster's CRS (or give --crs) and that it covers this county")])


# ---------------------------------------------------------------------- exporting
def export_layer(ws: Workspace, layer: str, destination: str | os.PathLike, *, crs=None,
                 encoding: str | None = None, gcj02: bool = False) -> Path:
    """Write a stored layer to a file (format from the suffix); rasters to GeoTIFF. Atomic.

    CSV and XLSX are spreadsheet tables (:func:`~civgis.store.spreadsheets.spreadsheet_frame`):
    Chinese headers and labels with the codes in their own columns, ids as text, 经度/纬度 (WGS84;
    ``gcj02`` adds GCJ-02 columns) for points, WKT for other geometries.
    """
    destination = Path(destination)
    spec = layer_spec(layer)
    if not ws.has(layer):
        raise LayerMissingError(ws, layer)
    tmp = destination.with_name(f".{destination.stem}.tmp{destination.suffix}")
    try:
        if spec.kind == "raster":
            import rasterio

            with rasterio.open(ws.raster_uri(layer)) as src:
                profile = src.profile | {"driver": "GTiff", "compress": "deflate"}
                profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
                with rasterio.open(tmp, "w", **profile) as dst:
                    dst.write(src.read())
                    dst.set_band_description(1, CANOPY_BAND["QUANTITY_DEFINITION"])
        else:
            gdf = ws.read(layer)
            if crs is None and destination.suffix.lower() in {".geojson", ".json", ".kml"}:
                crs = 4326  # RFC 7946 GeoJSON and KML are WGS84 longitude/latitude
            if crs is not None:
                gdf = gdf.to_crs(crs)
            suffix = destination.suffix.lower()
            if suffix in SPREADSHEET_SUFFIXES:
                write_table(spreadsheet_frame(gdf, spec, gcj02=gcj02), tmp, sheet=spec.title_zh, encoding=encoding)
            else:
                driver = VECTOR_DRIVERS.get(suffix)
                if driver is None:
                    raise ValueError(f"不支持的格式 unsupported format {suffix}; use one of "
                                     f"{', '.join(sorted(set(VECTOR_DRIVERS) | SPREADSHEET_SUFFIXES))}")
                if driver == "KML":
                    gdf = gdf.to_crs(4326)
                kwargs = {"encoding": encoding} if encoding and driver == "ESRI Shapefile" else {}
                if driver == "ESRI Shapefile":
                    tmp = destination  # a shapefile is several files: write them directly
                gdf_out = gdf.copy()
                for col in gdf_out.columns:
                    if str(gdf_out[col].dtype) == "boolean":
                        gdf_out[col] = gdf_out[col].astype(object).where(gdf_out[col].notna(), None)
                pyogrio.write_dataframe(gdf_out, tmp, driver=driver, layer=layer, **kwargs)
                if driver == "GPKG":
                    write_layer_styles(tmp, {layer: layer_qml(spec)})
        if tmp != destination:
            os.replace(tmp, destination)
    finally:
        if tmp != destination and tmp.exists():
            tmp.unlink()
    return destination
