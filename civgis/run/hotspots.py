"""Hot spots of a workspace, written as files: cells, maps, density surface, zone ranking."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from civgis.analysis.hotspots import (HotspotResult, filter_cases, hotspots_workspace, kernel_density,
                                      zone_ranking_frame)
from civgis.analysis.hotspots import RANKING_COLUMNS_ZH
from civgis.analysis.trends import CATEGORY_COLOURS, CATEGORY_LABELS_ZH, emerging_hotspots_workspace
from civgis.render.hotspots import hotspot_map, hotspot_png, save_folium
from civgis.store.spreadsheets import write_csv

#: Chinese headers of zone_ranking.csv (every column of the ranking frame)
RANKING_CSV_ZH = {**RANKING_COLUMNS_ZH, "n_cells": "网格数", "area_km2": "面积(km²)"}

__all__ = ["RANKING_CSV_ZH", "HotspotOutputs", "write_hotspots"]


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
                   band=None, fdr: bool = True, by: str | None = "month", time_window: int = 0) -> HotspotOutputs:
    """Run hot spots (and emerging hot spots with ``by``) and write every output to ``out_dir``.

    Files: ``hotspots.gpkg`` (layer ``cells``: count, gi_z, gi_p, gi_bin; layer ``emerging`` with
    ``by``), ``hotspots.html`` (offline folium), ``hotspots.png``, ``kde.tif`` (cases/km²),
    ``zone_ranking.csv`` and, with ``by``, ``emerging.html`` / ``emerging.png``.
    """
    note = None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = hotspots_workspace(ws, category=category, since=since, until=until, cell_size=cell_size, band=band, fdr=fdr)
    built = ws.read("built_up")
    cases = filter_cases(ws.read("inspections"), category=category, since=since, until=until)
    if as_of is None:
        as_of = pd.to_datetime(cases["reported_at"], format="mixed").max() if len(cases) else pd.Timestamp.now()
    files: dict[str, Path] = {}
    gpkg = out / "hotspots.gpkg"
    tmp = out / ".hotspots.tmp.gpkg"
    tmp.unlink(missing_ok=True)
    pyogrio.write_dataframe(res.cells, tmp, layer="cells", driver="GPKG")
    emerging = None
    if by:

        try:
            emerging = emerging_hotspots_workspace(ws, res, by=by, time_window=time_window, until=until, since=since)
        except ValueError as exc:   # too few time steps: the hot spots are still written
            emerging, note = None, str(exc)
        if emerging is not None:
            pyogrio.write_dataframe(emerging.cells.drop(columns=["geometry"]).pipe(
                lambda d: gpd.GeoDataFrame(d, geometry=res.cells.geometry.values, crs=res.cells.crs)),
                tmp, layer="emerging", driver="GPKG", append=False)
    os.replace(tmp, gpkg)
    files["gpkg"] = gpkg
    files["map"] = save_folium(hotspot_map(res.cells, built_up=built), out / "hotspots.html")
    files["png"] = hotspot_png(res.cells, out / "hotspots.png", built_up=built)
    b = built.total_bounds
    pad = res.band_m
    kde = kernel_density(cases, (b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad), crs=ws.crs)
    files["kde"] = kde.write(out / "kde.tif")
    ranking = zone_ranking_frame(ws.read("zones"), cases, res.cells, as_of) if ws.has("zones") else pd.DataFrame()
    write_csv(ranking.rename(columns=RANKING_CSV_ZH), out / "zone_ranking.csv")
    files["ranking"] = out / "zone_ranking.csv"
    if emerging is not None:
        ecells = gpd.GeoDataFrame(emerging.cells.drop(columns=["geometry"]), geometry=res.cells.geometry.values,
                                  crs=res.cells.crs)
        ecells.attrs.update(res.cells.attrs)
        files["emerging_map"] = save_folium(hotspot_map(ecells, built_up=built, title="新兴热点 emerging hot spots",
                                                        column="category", labels=CATEGORY_LABELS_ZH,
                                                        colours=CATEGORY_COLOURS), out / "emerging.html")
        files["emerging_png"] = hotspot_png(ecells, out / "emerging.png", built_up=built, title="新兴热点",
                                            column="category", labels=CATEGORY_LABELS_ZH, colours=CATEGORY_COLOURS)
    return HotspotOutputs(result=res, ranking=ranking, files=files, emerging=emerging, note=note)
