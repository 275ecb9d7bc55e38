"""Tables a spreadsheet opens right: Chinese headers and labels, codes beside them, ids as text.

Every CSV/XLSX civgis writes goes through here:

* **headers** are the catalogue's Chinese names (``lamp_id`` → 路灯编号); a coded field gets two
  columns, the Chinese label under the field's name (状态: 故障) and the code in its own
  column (状态代码: broken), so a filter shows words and a formula can still use codes;
* **text stays text**: CSV is UTF-8 with a byte-order mark (``utf-8-sig``, so Excel reads the
  Chinese right); in XLSX every text cell is stored as a string with the text number format
  ``@`` — a 16-digit 部件编码 keeps all its digits (a spreadsheet number has 15), and a value
  starting with ``=``, ``+``, ``-`` or ``@`` is text, never a formula;
* **points** get 经度/纬度 in WGS84 (7 decimals ≈ 1 cm) and, on request, 经度(GCJ-02)/纬度(GCJ-02)
  for Amap/Tencent; other geometries a WKT column in the export CRS.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import shapely

from civgis.store.catalogue import LayerSpec
from civgis.store.coords import wgs84_to_gcj02
from civgis.store.inert import inert_frame, save_workbook

__all__ = ["LONLAT_DECIMALS", "CODE_SUFFIX", "spreadsheet_frame", "write_csv", "write_xlsx", "write_table"]

#: decimals of exported longitude/latitude (1e-7° ≈ 1 cm)
LONLAT_DECIMALS = 7
#: header suffix of the column that keeps a coded field's codes
CODE_SUFFIX = "代码"


def _bool_zh(series: pd.Series) -> pd.Series:
    return series.astype("boolean").map({True: "是", False: "否"}).astype("string")


def spreadsheet_frame(gdf: gpd.GeoDataFrame, spec: LayerSpec, *, gcj02: bool = False) -> pd.DataFrame:
    """A stored layer as a spreadsheet table (see the module docstring).

    Parameters
    ----------
    gdf : GeoDataFrame
        The layer, any CRS (points are converted to WGS84 for 经度/纬度).
    spec : LayerSpec
        Its catalogue entry (headers, labels).
    gcj02 : bool
        Add GCJ-02 longitude/latitude columns (Amap, Tencent maps).
    """
    out: dict[str, pd.Series] = {}
    geometry = gdf.geometry
    for name in gdf.columns:
        if name == geometry.name:
            continue
        fspec = spec.fields.get(name)
        col = gdf[name]
        if fspec is None:
            out[str(name)] = col
            continue
        header = fspec.label()
        if fspec.values:
            codes = col.astype("string")
            out[header] = codes.map(lambda c: fspec.values.get(c, c) if isinstance(c, str) else c).astype("string")
            out[header + CODE_SUFFIX] = codes
        elif fspec.type == "bool":
            out[header] = _bool_zh(col)
        else:
            out[header] = col
    frame = pd.DataFrame(out, index=gdf.index)
    if spec.geometry == "Point" and len(gdf) and gdf.crs is not None:
        ll = geometry.to_crs(4326)
        lon, lat = shapely.get_x(ll.values), shapely.get_y(ll.values)
        frame["经度"] = np.round(lon, LONLAT_DECIMALS)
        frame["纬度"] = np.round(lat, LONLAT_DECIMALS)
        if gcj02:
            glon, glat = wgs84_to_gcj02(lon, lat)
            frame["经度(GCJ-02)"] = np.round(glon, LONLAT_DECIMALS)
            frame["纬度(GCJ-02)"] = np.round(glat, LONLAT_DECIMALS)
    else:
        frame["几何(WKT)"] = geometry.to_wkt()
    return frame.reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, *, encoding: str | None = None) -> None:
    """CSV in UTF-8 with BOM (Excel's way of knowing it is UTF-8); ``encoding="gbk"`` for old software.

    Text that a spreadsheet would take for a formula (``= + - @``, tab, CR) gets a leading ``'``
    (:func:`civgis.store.inert.inert_frame`).
    """
    inert_frame(frame).to_csv(path, index=False, encoding=encoding or "utf-8-sig")


def write_xlsx(sheets: dict[str, pd.DataFrame], path: str | os.PathLike) -> None:
    """Workbook with one sheet per frame; text cells as text (``@``), never as formulas or numbers."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, frame in sheets.items():
        ws = book.create_sheet(title=str(title)[:31])
        ws.append([str(c) for c in frame.columns])
        text_cols = [i for i, c in enumerate(frame.columns)
                     if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object]
        values = frame.astype(object).where(frame.notna(), None).to_numpy()
        for row in values:
            ws.append([_cell(v) for v in row])
        for i in text_cols:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i + 1, max_col=i + 1):
                if cell.value is not None:
                    cell.value = str(cell.value)
                    cell.data_type = "s"  # a string, even when it starts with "=" (no formula)
                cell.number_format = "@"
        for i, col in enumerate(frame.columns):
            width = max([len(str(col))] + [len(str(v)) for v in values[:200, i] if v is not None]) if len(frame) else len(str(col))
            ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width = min(60, 4 + 1.3 * width)
        ws.freeze_panes = "A2"
    save_workbook(book, path)


def _cell(value):
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, sheet: str = "数据",
                encoding: str | None = None) -> Path:
    """CSV or XLSX by the suffix of ``path``."""
    path = Path(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        write_xlsx({sheet: frame}, path)
    else:
        write_csv(frame, path, encoding=encoding)
    return path
