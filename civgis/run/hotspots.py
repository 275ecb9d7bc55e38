"""Hot spots of a workspace, written as files: cells, maps, density surface, zone ranking."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from civgis.analysis.hotspots import (BIN_COLOURS, BIN_LABELS_ZH, RANKING_COLUMNS_ZH, HotspotResult, filter_cases,
                                      hotspots_workspace, kernel_density, zone_ranking_frame)
from civgis.analysis.cases import checked_states
from civgis.analysis.trends import CATEGORIES, CATEGORY_COLOURS, CATEGORY_LABELS_ZH, emerging_hotspots_workspace
from civgis.render.hotspots import dissolve_classes, hotspot_map, hotspot_png, save_folium, web_context
from civgis.store.qgis_style import Category, StyleSpec, style_qml, write_layer_styles
from civgis.store.spreadsheets import write_csv

_BY_ZH = {"month": "月", "week": "周", "quarter": "季度", "day": "日", "year": "年"}

#: Chinese headers of zone_ranking.csv (every column of the ranking frame)
RANKING_CSV_ZH = {**RANKING_COLUMNS_ZH, "n_cells": "网格数", "area_km2": "面积(km²)"}

__all__ = ["RANKING_CSV_ZH", "ARCGIS_CELL_FIELDS", "ARCGIS_EMERGING_FIELDS", "EMERGING_CODES", "EMERGING_PATTERNS",
           "HotspotOutputs", "arcgis_cells", "arcgis_emerging", "hotspot_styles", "write_hotspots"]

#: civgis's Gi* columns → the field names of ArcGIS's (Optimized) Hot Spot Analysis output
ARCGIS_CELL_FIELDS = {"count": "Join_Count", "n_neighbours": "NNeighbors", "gi_z": "GiZScore", "gi_p": "GiPValue",
                      "gi_bin": "Gi_Bin"}
#: civgis's emerging-hot-spot columns → ArcGIS's Emerging Hot Spot Analysis fields
ARCGIS_EMERGING_FIELDS = {"category_zh": "PATTERN_ZH", "trend_z": "TREND_Z", "trend_p": "TREND_P"}
#: emerging category → ArcGIS's CATEGORY code: 1…8 hot (new … historical), −1…−8 cold, 0 no pattern
EMERGING_CODES = {"none": 0, **{f"{c}_hot": i for i, c in enumerate(CATEGORIES, start=1)},
                  **{f"{c}_cold": -i for i, c in enumerate(CATEGORIES, start=1)}}
#: emerging category → ArcGIS's PATTERN text
EMERGING_PATTERNS = {"none": "No Pattern Detected",
                     **{f"{c}_{kind}": f"{c.capitalize()} {kind.capitalize()} Spot"
                        for c in CATEGORIES for kind in ("hot", "cold")}}


@dataclass
class HotspotOutputs:
    """What :func:`write_hotspots` produced (used by the report)."""
    result: HotspotResult
    ranking: pd.DataFrame
    files: dict[str, Path]
    emerging: object | None = None
    note: str | None = None          # why the emerging analysis was skipped, if it was

    @property
    def written(self) -> list[Path]:
        return list(self.files.values())

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        d["zone_ranking"] = self.ranking.head(20).round(3).to_dict(orient="records")
        if self.emerging is not None:
            d["emerging"] = self.emerging.to_dict()
        elif self.note:
            d["emerging"] = {"skipped": self.note}
        return d


def write_hotspots(ws, out_dir, *, as_of=None, category=None, since=None, until=None, cell_size=None,
                   band=None, fdr: bool = True, by: str | None = "month", time_window: int = 0,
                   gpkg_version: str = "AUTO", states: pd.DataFrame | None = None) -> HotspotOutputs:
    """Run hot spots (and emerging hot spots with ``by``) and write every output to ``out_dir``.

    Files: ``hotspots.gpkg`` with ArcGIS's field names (layer ``cells``: Join_Count, NNeighbors,
    GiZScore, GiPValue, Gi_Bin; layer ``emerging`` with ``by``: CATEGORY, PATTERN, PATTERN_ZH,
    TREND_Z, TREND_P …) and QGIS default styles for both, ``hotspots.html`` (offline folium),
    ``hotspots.png``, ``kde.tif`` (cases/km²), ``zone_ranking.csv`` and, with ``by``, ``emerging.html`` / ``emerging.png``. ``gpkg_version="1.2"``
    writes hotspots.gpkg as GeoPackage 1.2 for QGIS 3.22 / GDAL 3.6. The result objects keep
    civgis's own column names (``gi_z``, ``gi_bin`` …); only the files use ArcGIS's.

    ``states``: :func:`civgis.analysis.cases.case_states` of the inspections layer at ``as_of``
    (default: the instant they were taken at) when the caller has them — a report run computes
    them once — so the zone ranking does not compute them again; checked against the layer
    (:func:`~civgis.analysis.cases.checked_states`) and the instant.

    Each layer is read once and the cases are filtered once; the hot spot, emerging and zone
    ranking analyses are all handed the same filtered cases.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inspections = ws.read("inspections")
    cases = filter_cases(inspections, category=category, since=since, until=until)
    if states is not None:
        states = checked_states(states, inspections).loc[cases.index]   # the filtered cases' rows
        as_of = states.attrs["as_of"] if as_of is None else as_of
    res = hotspots_workspace(ws, category=category, since=since, until=until, cell_size=cell_size, band=band, fdr=fdr,
                             cases=cases)
    if as_of is None:
        as_of = pd.to_datetime(cases["reported_at"], format="mixed").max() if len(cases) else pd.Timestamp.now()
    emerging, note = _emerging(ws, res, cases, by=by, time_window=time_window, since=since, until=until)
    ecells = _emerging_cells(emerging, res) if emerging is not None else None
    # GDAL writes the GeoPackage (48 000 cells twice on the demo, ~0.4 s) without holding the GIL: in a
    # thread, beside the maps drawn here; joined before returning (no thread outlives the call, so a later
    # fork stays safe), its error raised here
    with ThreadPoolExecutor(1, thread_name_prefix="civgis-gpkg") as writer:
        gpkg = writer.submit(_write_gpkg, out / "hotspots.gpkg", res, ecells, gpkg_version)
        zones = ws.read_optional("zones")
        context = {"built_up": ws.read("built_up"), "zones": zones, "roads": ws.read_optional("roads")}
        web = web_context(**context)   # the web maps' context converted once for both pages
        subtitle = _subtitle(res, as_of)
        files = _hotspot_maps(out, res.cells, context, web, subtitle)
        files["kde"] = _density(cases, context["built_up"], res.band_m, ws.crs).write(out / "kde.tif")
        ranking = (zone_ranking_frame(zones, cases, res.cells, as_of, states=states) if zones is not None
                   else pd.DataFrame())
        write_csv(ranking.rename(columns=RANKING_CSV_ZH), out / "zone_ranking.csv")
        files["ranking"] = out / "zone_ranking.csv"
        if ecells is not None:
            files.update(_emerging_maps(out, ecells, context, web, f"按{_BY_ZH.get(by, by)}统计 · " + subtitle))
        files = {"gpkg": gpkg.result()} | files
    return HotspotOutputs(result=res, ranking=ranking, files=files, emerging=emerging, note=note)


def _emerging(ws, res: HotspotResult, cases, *, by, time_window, since, until):
    """``(EmergingResult, None)``, or ``(None, why)`` when skipped: no ``by``, or too few time steps."""
    if not by:
        return None, None
    try:
        return emerging_hotspots_workspace(ws, res, by=by, time_window=time_window, until=until, since=since,
                                           cases=cases), None
    except ValueError as exc:   # too few time steps: the hot spots are still written
        return None, str(exc)


def _emerging_cells(emerging, res: HotspotResult) -> gpd.GeoDataFrame:
    """The emerging cells on the hot spot cells' geometry and grid attributes (for the GeoPackage and the maps)."""
    ecells = gpd.GeoDataFrame(emerging.cells.drop(columns=["geometry"]), geometry=res.cells.geometry.values,
                              crs=res.cells.crs)
    ecells.attrs.update(res.cells.attrs)
    return ecells


def _write_gpkg(gpkg: Path, res: HotspotResult, ecells, gpkg_version: str) -> Path:
    """hotspots.gpkg (layers ``cells`` and, with ``ecells``, ``emerging``, QGIS styles), written atomically."""
    tmp = gpkg.with_name(".hotspots.tmp.gpkg")
    tmp.unlink(missing_ok=True)
    # use_arrow: the same layer (fields, types, values) in 0.8 s instead of 1.1 s on the demo
    pyogrio.write_dataframe(arcgis_cells(res.cells), tmp, layer="cells", driver="GPKG", use_arrow=True,
                            dataset_options=None if gpkg_version == "AUTO" else {"VERSION": gpkg_version})
    if ecells is not None:
        pyogrio.write_dataframe(arcgis_emerging(ecells), tmp, layer="emerging", driver="GPKG", append=False,
                                use_arrow=True)
    write_layer_styles(tmp, hotspot_styles(emerging=ecells is not None))
    os.replace(tmp, gpkg)
    return gpkg


def _subtitle(res: HotspotResult, as_of) -> str:
    """The maps' subtitle: cases, cell size, band, method and date."""
    method = "Getis-Ord Gi*" + ("，FDR 校正" if res.fdr else "")
    return (f"{res.n_cases:,} 件案件 · 六边形网格 {res.cell_size_m:.0f} 米 · 距离带 {res.band_m:.0f} 米 · {method}"
            f" · 截至 {pd.Timestamp(as_of):%Y-%m-%d}")


def _hotspot_maps(out: Path, cells: gpd.GeoDataFrame, context: dict, web, subtitle: str) -> dict[str, Path]:
    """hotspots.html and hotspots.png of the Gi* classes, dissolved once for both.

    ``context``: the layers the PNG draws; ``web``: the same as the web map's GeoJSON (:func:`web_context`).
    """
    dissolved = dissolve_classes(cells, "gi_bin")
    return {"map": save_folium(hotspot_map(cells, dissolved=dissolved, context=web), out / "hotspots.html"),
            "png": hotspot_png(cells, out / "hotspots.png", title="巡查案件热点分布（Gi* 置信度）",
                               subtitle=subtitle, dissolved=dissolved, **context)}


def _emerging_maps(out: Path, ecells: gpd.GeoDataFrame, context: dict, web, subtitle: str) -> dict[str, Path]:
    """emerging.html and emerging.png of the emerging categories, dissolved once for both (context as above)."""
    dissolved = dissolve_classes(ecells, "category")
    theme = {"column": "category", "labels": CATEGORY_LABELS_ZH, "colours": CATEGORY_COLOURS, "dissolved": dissolved}
    return {"emerging_map": save_folium(hotspot_map(ecells, title="新兴热点", **theme, context=web),
                                        out / "emerging.html"),
            "emerging_png": hotspot_png(ecells, out / "emerging.png", title="新兴热点（时空模式）", subtitle=subtitle,
                                        **theme, **context)}


def _density(cases, built_up, pad: float, crs):
    """The cases' kernel density over the built-up area's bounds padded by ``pad`` (the band) metres."""
    b = built_up.total_bounds
    return kernel_density(cases, (b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad), crs=crs)


def arcgis_cells(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Gi* cells with ArcGIS's field names (:data:`ARCGIS_CELL_FIELDS`) for files ArcGIS users open."""
    return cells.rename(columns=ARCGIS_CELL_FIELDS)


def arcgis_emerging(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Emerging cells with ArcGIS's CATEGORY (integer) and PATTERN (text) beside civgis's own columns."""
    out = cells.rename(columns=ARCGIS_EMERGING_FIELDS)
    out.insert(out.columns.get_loc("category"), "CATEGORY", cells["category"].map(EMERGING_CODES).astype("int32"))
    out.insert(out.columns.get_loc("category"), "PATTERN", cells["category"].map(EMERGING_PATTERNS))
    return out.drop(columns=["category"])


def hotspot_styles(*, emerging: bool = True) -> dict[str, str]:
    """QGIS default styles of hotspots.gpkg: Gi_Bin classes and emerging CATEGORY codes, ArcGIS's colours."""
    aliases = {"Join_Count": "案件数", "NNeighbors": "邻域单元数", "GiZScore": "Gi* z 值", "GiPValue": "p 值",
               "Gi_Bin": "置信度分级"}
    bins = [Category(value=str(b), label=BIN_LABELS_ZH[b], color=BIN_COLOURS[b], outline="#bdbdbd")
            for b in sorted(BIN_LABELS_ZH, reverse=True)]
    styles = {"cells": style_qml(StyleSpec(geometry="Polygon", color="#bdbdbd", weight=0.5, category_field="Gi_Bin",
                                           categories=bins, aliases=aliases,
                                           value_maps={"Gi_Bin": {str(b): BIN_LABELS_ZH[b] for b in BIN_LABELS_ZH}}))}
    if emerging:
        cats = [Category(value=str(code), label=CATEGORY_LABELS_ZH[name], color=CATEGORY_COLOURS[name],
                         outline="#bdbdbd") for name, code in sorted(EMERGING_CODES.items(), key=lambda kv: -kv[1])]
        styles["emerging"] = style_qml(StyleSpec(
            geometry="Polygon", color="#bdbdbd", weight=0.5, category_field="CATEGORY", categories=cats,
            aliases={"CATEGORY": "新兴热点类别代码", "PATTERN": "模式 pattern", "PATTERN_ZH": "新兴热点类别",
                     "TREND_Z": "趋势 z 值", "TREND_P": "趋势 p 值"},
            value_maps={"CATEGORY": {str(c): CATEGORY_LABELS_ZH[n] for n, c in EMERGING_CODES.items()}}))
    return styles
