"""Zone summary (责任区台账): what each responsibility zone holds.

One row per zone: area, road length by class, lamps (and broken ones), toilets, green area,
residents, open and overdue cases, responsible unit, person and phone — the table a squad
leader signs for.

Measures (all in the workspace's projected metric CRS):

* ``area_m2`` — zone area;
* ``road_m_<class>`` / ``road_m`` — length of road centre line *inside* the zone (roads clipped
  to the zone), by ``road_class``;
* ``lamps``, ``lamps_broken``, ``toilets`` — points intersecting the zone (a point on a shared
  border counts in both zones); ``lamps_broken`` counts lamps whose ``status`` is ``broken`` and
  is missing (NaN) in a zone whose lamps all lack a recorded state (an OSM import), since no one
  knows how many of them are out;
* ``cases_open``, ``cases_overdue`` — cases open (未结案) and overdue (超期未结) at ``as_of`` in
  their one zone, as :func:`civgis.analysis.cases.case_states` decides (the ledger's numbers);
* ``green_m2`` — area of the union of green polygons inside the zone (overlaps counted once);
* ``residents`` — residential population apportioned by area share
  (``Σ population_r · |R_r ∩ Z| / |R_r|``), rounded to whole people.

Missing is not a number: a layer the workspace does not have (``None``) gives its columns as
NaN (无数据), not 0; a layer present with no features gives 0.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box, Point, LineString
>>> zones = gpd.GeoDataFrame({"zone_id": ["A"], "name": ["甲"]}, geometry=[box(0, 0, 100, 100)], crs=4527)
>>> roads = gpd.GeoDataFrame({"road_id": ["r1"], "road_class": ["branch"]},
...                          geometry=[LineString([(-50, 50), (150, 50)])], crs=4527)
>>> t = summarize_zones(zones, roads=roads)
>>> float(t.loc[0, "road_m_branch"]), float(t.loc[0, "area_m2"])
(100.0, 10000.0)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from civgis.analysis.cases import case_states, checked_states, zone_counts
from civgis.analysis.lamps import lamp_states
from civgis.analysis.spatial import query_pairs
from civgis.store.catalogue import layer_spec

__all__ = ["COLUMNS_ZH", "road_classes", "columns_zh", "summarize_zones", "zone_summary"]

#: summary columns → Chinese headers (road-class columns are added from the catalogue)
COLUMNS_ZH = {
    "zone_id": "责任区编号", "name": "责任区名称", "unit": "责任单位", "staff": "责任人", "phone": "联系电话",
    "area_m2": "面积(㎡)", "road_m": "道路长度(米)", "lamps": "路灯", "lamps_broken": "故障路灯",
    "toilets": "公厕", "green_m2": "绿地面积(㎡)", "residents": "居民(人)", "cases_open": "未结案件",
    "cases_overdue": "超期案件",
}


def road_classes() -> list[str]:
    return list(layer_spec("roads").fields["road_class"].values)


def columns_zh() -> dict[str, str]:
    """Every summary column → its Chinese header, in table order."""
    labels = layer_spec("roads").fields["road_class"].values
    cols = {k: COLUMNS_ZH[k] for k in ("zone_id", "name", "unit", "staff", "phone", "area_m2")}
    cols.update({f"road_m_{c}": f"{labels[c]}(米)" for c in road_classes()})
    cols.update({k: COLUMNS_ZH[k] for k in ("road_m", "lamps", "lamps_broken", "toilets", "green_m2", "residents",
                                            "cases_open", "cases_overdue")})
    return cols


def _count(zone_geoms, gdf) -> np.ndarray:
    """Features intersecting each zone; NaN everywhere when the layer is missing."""
    n = len(zone_geoms)
    if gdf is None:
        return np.full(n, np.nan)
    _, zi = query_pairs(zone_geoms, np.asarray(gdf.geometry.values))
    return np.bincount(zi, minlength=n).astype(int)


def _lamp_counts(zone_geoms, lamps) -> tuple[np.ndarray, np.ndarray]:
    """Lamps and broken lamps per zone from one query; broken is NaN where the zone has lamps and none has a
    recorded state (NaN everywhere when the layer is missing)."""
    n = len(zone_geoms)
    if lamps is None:
        return np.full(n, np.nan), np.full(n, np.nan)
    li, zi = query_pairs(zone_geoms, np.asarray(lamps.geometry.values))
    states = lamp_states(lamps)
    in_zone = np.bincount(zi, minlength=n).astype(int)
    known = np.bincount(zi, weights=states.known[li], minlength=n)
    broken = np.bincount(zi, weights=states.broken[li], minlength=n).astype(int)
    return in_zone, np.where((in_zone > 0) & (known == 0), np.nan, broken)


def summarize_zones(zones: gpd.GeoDataFrame, *, roads=None, lamps=None, toilets=None, green=None,
                    residential=None, inspections=None, as_of=None, states: pd.DataFrame | None = None) -> pd.DataFrame:
    """The zone summary table (pure function on GeoDataFrames in one metric CRS).

    Parameters
    ----------
    zones : GeoDataFrame
        ``zone_id, name, unit, staff, phone``.
    roads, lamps, toilets, green, residential, inspections : GeoDataFrame or None
        A missing layer (None) gives its columns as NaN (无数据); an empty one gives 0.
    as_of : datetime-like, optional
        The instant case states are counted at (a date means the end of that day; default the
        end of today), as in the ledger.

    Returns
    -------
    DataFrame
        One row per zone with the columns of :func:`columns_zh` (English names).
    """
    zone_geoms = np.asarray(zones.geometry.values)
    n = len(zones)
    out = pd.DataFrame({c: zones[c].astype(object).where(zones[c].notna(), None).to_numpy() if c in zones
                        else [None] * n for c in ("zone_id", "name", "unit", "staff", "phone")})
    out["zone_id"] = zones["zone_id"].astype(str).to_numpy()
    out["area_m2"] = shapely.area(zone_geoms)

    # roads: clip each road to each zone it meets, sum length by class
    for c in road_classes():
        out[f"road_m_{c}"] = np.nan if roads is None else 0.0
    if roads is not None and len(roads):
        rg = np.asarray(roads.geometry.values)
        ri, zi = query_pairs(zone_geoms, rg)
        length = shapely.length(shapely.intersection(rg[ri], zone_geoms[zi]))
        cls = roads["road_class"].astype(str).to_numpy()[ri]
        df = pd.DataFrame({"z": zi, "c": cls, "m": length}).groupby(["z", "c"])["m"].sum()
        for (z, c), m in df.items():
            col = f"road_m_{c}"
            if col not in out:
                out[col] = 0.0
            out.loc[z, col] = m
    out["road_m"] = out[[c for c in out if c.startswith("road_m_")]].sum(axis=1, min_count=1)

    out["lamps"], out["lamps_broken"] = _lamp_counts(zone_geoms, lamps)
    out["toilets"] = _count(zone_geoms, toilets)

    # green: union of the green parts in each zone (overlapping polygons counted once)
    out["green_m2"] = np.nan if green is None else 0.0
    if green is not None and len(green):
        gg = np.asarray(green.geometry.values)
        gi, zi = query_pairs(zone_geoms, gg)
        pieces = shapely.intersection(gg[gi], zone_geoms[zi])
        s = gpd.GeoSeries(pieces).groupby(zi).agg(lambda g: shapely.union_all(np.asarray(g)))
        out.loc[s.index, "green_m2"] = shapely.area(np.asarray(s.values))

    # residents: areal weighting of each residential polygon's population
    out["residents"] = np.nan if residential is None else 0
    if residential is not None and len(residential):
        rg = np.asarray(residential.geometry.values)
        ri, zi = query_pairs(zone_geoms, rg)
        share = shapely.area(shapely.intersection(rg[ri], zone_geoms[zi])) / np.where(
            shapely.area(rg[ri]) > 0, shapely.area(rg[ri]), 1.0)
        pop = pd.to_numeric(residential["population"], errors="coerce").fillna(0).to_numpy(dtype=float)[ri]
        out["residents"] = np.rint(np.bincount(zi, weights=pop * share, minlength=n)).astype(int)

    if inspections is None or len(inspections) == 0:
        states = None
    else:  # the run's case states when given (computed once per run), else computed here
        states = case_states(inspections, as_of, zones) if states is None else checked_states(states, inspections)
    none = np.nan if inspections is None else 0  # no cases layer: unknown; an empty one: none open
    counts = (zone_counts(states, ["open", "overdue"], out["zone_id"]) if states is not None
              else pd.DataFrame({"open": none, "overdue": none}, index=out["zone_id"]))
    out["cases_open"] = counts["open"].to_numpy()
    out["cases_overdue"] = counts["overdue"].to_numpy()

    cols = [c for c in columns_zh() if c in out] + [c for c in out if c not in columns_zh()]
    return out[cols]


def zone_summary(ws, as_of=None, *, states: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`summarize_zones` on a workspace (every layer it has); ``as_of`` defaults to now.
    ``states``: the run's ``case_states`` of the inspections, when it has them."""
    layers = {name: ws.read_optional(name) for name in
              ("roads", "lamps", "toilets", "green", "residential", "inspections")}
    return summarize_zones(ws.read("zones"), as_of=as_of, states=states, **layers)
