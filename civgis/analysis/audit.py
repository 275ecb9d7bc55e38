"""Responsibility-zone coverage audit (责任区全覆盖、无死角).

"Every square metre of the built-up area belongs to exactly one zone and one named person."
The audit finds, in the workspace's projected metric CRS:

* **gaps** (死角): parts of the built-up area in no zone, ``built_up − ⋃ zones``, one row per
  connected part, with its area (m²), centroid, the neighbouring zones sorted by the length of
  border they share with the gap, and a suggested owner (the zone sharing the longest border);
* **overlaps** (重叠): parts covered by two or more zones, ``⋃_{i<j} (Z_i ∩ Z_j)``, one row per
  connected part with the zones involved;
* **slivers**: gaps and overlaps below a tolerance (area < ``sliver_m2`` or mean width
  ``2·A/P`` < ``sliver_width_m``) — digitising noise, reported apart;
* **unassigned assets**: lamps, toilets, roads and open cases that touch no zone;
* **zones missing contact**: zones with no responsible person (责任人) or no phone.

Gaps can be repaired with :func:`fix_gaps` (each gap joins its suggested zone); the previous
zones are kept in the workspace table ``zones_history`` and come back with :func:`restore_zones`.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> built = gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(0, 0, 100, 100)], crs=4527)
>>> zones = gpd.GeoDataFrame({"zone_id": ["A", "B"], "name": ["甲", "乙"], "staff": ["张三", None],
...                           "phone": ["1", "2"]},
...                          geometry=[box(0, 0, 60, 100), box(50, 0, 90, 100)], crs=4527)
>>> res = audit_coverage(built, zones)
>>> [g["area_m2"] for g in res.to_dict()["gaps"]], [o["area_m2"] for o in res.to_dict()["overlaps"]]
([1000.0], [1000.0])
>>> res.to_dict()["gaps"][0]["neighbours"], res.zones_missing_contact[0]["missing"]
(['B'], ['staff'])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from civgis.store.catalogue import layer_spec, load_catalogue
from civgis.store.crs import lonlat
from civgis.store.workspace import WorkspaceError, _prepare_for_gpkg, apply_catalogue_dtypes

__all__ = ["SLIVER_M2", "SLIVER_WIDTH_M", "TOUCH_TOL_M", "ASSET_LAYERS", "HISTORY_TABLE", "AuditResult",
           "find_gaps", "find_overlaps", "unassigned_assets", "zones_missing_contact", "audit_coverage",
           "audit_workspace", "assign_gaps", "fix_gaps", "history_versions", "restore_zones"]

#: default tolerances for slivers: area below this (m²) …
SLIVER_M2 = 10.0
#: … or mean width 2·area/perimeter below this (m)
SLIVER_WIDTH_M = 0.5
#: distance (m) within which a zone counts as bordering a gap (absorbs coordinate noise)
TOUCH_TOL_M = 0.05
#: the asset layers checked for features outside every zone
ASSET_LAYERS = ("lamps", "toilets", "roads", "inspections")
#: the workspace table that keeps earlier zone geometries
HISTORY_TABLE = "zones_history"


@dataclass
class AuditResult:
    """What :func:`audit_coverage` found.

    Attributes
    ----------
    gaps : GeoDataFrame
        ``gap_id, area_m2, centroid_x, centroid_y, lon, lat, neighbours (list of zone ids, longest
        shared border first), border_m (list, m), suggested_zone, geometry``.
    overlaps : GeoDataFrame
        ``overlap_id, area_m2, centroid_x, centroid_y, lon, lat, zones (list), geometry``.
    slivers : GeoDataFrame
        ``kind ("gap"/"overlap"), area_m2, width_m, zones (list), geometry``.
    unassigned : dict
        layer → list of feature ids outside every zone (only layers that were given).
    unassigned_in_built_up : dict
        The part of ``unassigned`` that lies (at least partly) inside the built-up area — the true
        dead corners; the rest lies outside the built-up boundary, where zones need not reach.
    zones_missing_contact : list of dict
        ``{"zone_id", "name", "missing": ["staff"|"phone"…]}``.
    built_up_area_m2, zoned_area_m2 : float
        Built-up area and the part of it covered by at least one zone.
    """

    gaps: gpd.GeoDataFrame
    overlaps: gpd.GeoDataFrame
    slivers: gpd.GeoDataFrame
    unassigned: dict[str, list[str]] = field(default_factory=dict)
    unassigned_in_built_up: dict[str, list[str]] = field(default_factory=dict)
    zones_missing_contact: list[dict] = field(default_factory=list)
    built_up_area_m2: float = 0.0
    zoned_area_m2: float = 0.0
    sliver_m2: float = SLIVER_M2
    sliver_width_m: float = SLIVER_WIDTH_M

    @property
    def coverage_ratio(self) -> float:
        """Share of the built-up area covered by at least one zone (0–1)."""
        return self.zoned_area_m2 / self.built_up_area_m2 if self.built_up_area_m2 else float("nan")

    @property
    def ok(self) -> bool:
        """True when there is no gap, no overlap, no unassigned asset and no zone lacks contact."""
        return (self.gaps.empty and self.overlaps.empty and not any(self.unassigned.values())
                and not self.zones_missing_contact)

    def to_dict(self) -> dict:
        """The ``civgis audit --json`` structure (plain JSON types)."""
        def loc(row) -> dict:
            return {"area_m2": round(float(row.area_m2), 2),
                    "centroid": [round(float(row.centroid_x), 2), round(float(row.centroid_y), 2)],
                    "lonlat": [round(float(row.lon), 6), round(float(row.lat), 6)]}

        gaps = [{"gap_id": r.gap_id, **loc(r), "neighbours": list(r.neighbours),
                 "border_m": [round(float(b), 2) for b in r.border_m], "suggested_zone": r.suggested_zone}
                for r in self.gaps.itertuples()]
        overlaps = [{"overlap_id": r.overlap_id, **loc(r), "zones": list(r.zones)}
                    for r in self.overlaps.itertuples()]
        slivers = [{"kind": r.kind, "area_m2": round(float(r.area_m2), 3), "width_m": round(float(r.width_m), 3),
                    "zones": list(r.zones)} for r in self.slivers.itertuples()]
        return {
            "gaps": gaps,
            "overlaps": overlaps,
            "slivers": slivers,
            "unassigned": {k: list(v) for k, v in self.unassigned.items()},
            "unassigned_in_built_up": {k: list(v) for k, v in self.unassigned_in_built_up.items()},
            "zones_missing_contact": [dict(z) for z in self.zones_missing_contact],
            "summary": {
                "built_up_area_m2": round(self.built_up_area_m2, 2),
                "zoned_area_m2": round(self.zoned_area_m2, 2),
                "coverage_ratio": round(self.coverage_ratio, 6) if self.built_up_area_m2 else None,
                "gap_area_m2": round(float(self.gaps["area_m2"].sum()), 2),
                "overlap_area_m2": round(float(self.overlaps["area_m2"].sum()), 2),
                "n_gaps": len(self.gaps), "n_overlaps": len(self.overlaps), "n_slivers": len(self.slivers),
                "sliver_m2": self.sliver_m2, "sliver_width_m": self.sliver_width_m,
            },
        }


# ---------------------------------------------------------------------------- core
def _polygon_parts(geom) -> np.ndarray:
    """The polygonal connected parts of a geometry (lines/points from degenerate overlays dropped)."""
    if geom is None or geom.is_empty:
        return np.array([], dtype=object)
    parts = shapely.get_parts(geom)
    out = []
    for p in parts:
        if isinstance(p, shapely.GeometryCollection):
            out.extend(x for x in shapely.get_parts(p) if x.geom_type == "Polygon")
        elif p.geom_type == "Polygon":
            out.append(p)
        elif p.geom_type == "MultiPolygon":
            out.extend(shapely.get_parts(p))
    return np.array([p for p in out if p.area > 0], dtype=object)




def _is_sliver(parts: np.ndarray, sliver_m2: float, sliver_width_m: float) -> tuple[np.ndarray, np.ndarray]:
    area = shapely.area(parts)
    perim = shapely.length(parts)
    width = np.where(perim > 0, 2.0 * area / np.where(perim > 0, perim, 1.0), 0.0)
    return (area < sliver_m2) | (width < sliver_width_m), width


def find_gaps(built_up: gpd.GeoSeries, zones: gpd.GeoSeries) -> np.ndarray:
    """Connected parts of ``built_up − ⋃ zones`` (array of Polygons)."""
    built = shapely.union_all(np.asarray(built_up.values))
    covered = shapely.union_all(np.asarray(zones.values))
    return _polygon_parts(shapely.difference(built, covered))


def find_overlaps(zones: gpd.GeoSeries) -> np.ndarray:
    """Connected parts of ``⋃_{i<j} (Z_i ∩ Z_j)`` — the area in two or more zones (array of Polygons)."""
    geoms = np.asarray(zones.values)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return np.array([], dtype=object)
    pieces = shapely.intersection(geoms[left], geoms[right])
    pieces = pieces[shapely.area(pieces) > 0]
    if len(pieces) == 0:
        return np.array([], dtype=object)
    return _polygon_parts(shapely.union_all(pieces))


def _zones_of(parts: np.ndarray, zone_geoms: np.ndarray, zone_ids: np.ndarray, min_area: float) -> list[list[str]]:
    """For each overlap part, the ids of the zones covering a positive area of it."""
    tree = shapely.STRtree(zone_geoms)
    pi, zi = tree.query(parts, predicate="intersects")
    area = shapely.area(shapely.intersection(parts[pi], zone_geoms[zi])) if len(pi) else np.array([])
    out: list[list[str]] = [[] for _ in range(len(parts))]
    for p, z, a in zip(pi, zi, area):
        if a > min_area:
            out[p].append(str(zone_ids[z]))
    return [sorted(set(z)) for z in out]


def _neighbours(parts: np.ndarray, zone_geoms: np.ndarray, zone_ids: np.ndarray,
                touch_tol_m: float) -> tuple[list[list[str]], list[list[float]]]:
    """Zones bordering each gap, with the shared border length (m), longest first.

    Shared border of gap g and zone z = length of ∂g ∩ ∂z, or, when the edges do not coincide
    exactly, the length of ∂g within ``touch_tol_m`` of z.
    """
    tree = shapely.STRtree(zone_geoms)
    gi, zi = tree.query(parts, predicate="dwithin", distance=touch_tol_m)
    if len(gi):
        # exact where the gap's edges are the zone's own edges (gaps come from a difference of them),
        # else the part of the gap's boundary within touch_tol_m of the zone
        gb = shapely.boundary(parts[gi])
        exact = shapely.length(shapely.intersection(gb, shapely.boundary(zone_geoms[zi])))
        near = shapely.length(shapely.intersection(gb, shapely.buffer(zone_geoms[zi], touch_tol_m)))
        border = np.where(exact > 0, exact, near)
    else:
        border = np.array([])
    ids: list[list[str]] = [[] for _ in range(len(parts))]
    lens: list[list[float]] = [[] for _ in range(len(parts))]
    df = pd.DataFrame({"g": gi, "z": zone_ids[zi].astype(str) if len(zi) else [], "b": border})
    df = df[df["b"] > 0].groupby(["g", "z"], as_index=False)["b"].max()
    df = df.sort_values(["g", "b", "z"], ascending=[True, False, True])
    for g, z, b in df.itertuples(index=False):
        ids[g].append(z)
        lens[g].append(float(b))
    return ids, lens


def _empty(columns: list[str], crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series([], dtype=object) for c in columns}, geometry=[], crs=crs)


def unassigned_assets(zones: gpd.GeoDataFrame, assets: dict[str, gpd.GeoDataFrame], *,
                      within=None) -> dict[str, list[str]]:
    """Ids of asset features that intersect no zone, per layer.

    ``inspections`` counts only open cases (status == "open"). Ids come from the catalogue's
    ``id_field`` (else the row index). With ``within`` (a polygon, e.g. the built-up area) only
    features intersecting it are listed.
    """

    zone_geoms = np.asarray(zones.geometry.values)
    tree = shapely.STRtree(zone_geoms)
    if within is not None:
        shapely.prepare(within)
    out: dict[str, list[str]] = {}
    for layer, gdf in assets.items():
        if gdf is None:
            continue
        if layer == "inspections" and "status" in gdf:
            gdf = gdf[gdf["status"].astype("string").fillna("") == "open"]
        geoms = np.asarray(gdf.geometry.values)
        hit = np.zeros(len(gdf), dtype=bool)
        if len(geoms):
            src, _ = tree.query(geoms, predicate="intersects")
            hit[src] = True
        missing_geom = shapely.is_missing(geoms) | shapely.is_empty(geoms) if len(geoms) else hit
        if within is not None and len(geoms):
            missing_geom = missing_geom | ~shapely.intersects(within, geoms)
        id_field = layer_spec(layer).id_field if layer in _catalogue_names() else None
        ids = gdf[id_field] if id_field and id_field in gdf else pd.Series(gdf.index, index=gdf.index)
        out[layer] = [str(i) for i in ids[~hit & ~missing_geom]]
    return out


def _catalogue_names() -> set[str]:

    return set(load_catalogue())


def zones_missing_contact(zones: gpd.GeoDataFrame, fields=("staff", "phone")) -> list[dict]:
    """Zones whose responsible person (``staff``) or ``phone`` is missing or blank."""
    rows = []
    for _, z in zones.iterrows():  # a few dozen zones; no geometry work
        missing = [f for f in fields if f not in zones or pd.isna(z[f]) or not str(z[f]).strip()]
        if missing:
            rows.append({"zone_id": str(z.get("zone_id", _)), "name": None if pd.isna(z.get("name")) else str(z.get("name")),
                         "missing": missing})
    return rows


def audit_coverage(built_up: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, sliver_m2: float = SLIVER_M2,
                   sliver_width_m: float = SLIVER_WIDTH_M, touch_tol_m: float = TOUCH_TOL_M,
                   assets: dict[str, gpd.GeoDataFrame] | None = None) -> AuditResult:
    """Audit how the responsibility zones cover the built-up area.

    Parameters
    ----------
    built_up, zones : GeoDataFrame
        Same projected metric CRS (metres). ``zones`` has ``zone_id`` (and ``name``, ``staff``,
        ``phone``).
    sliver_m2, sliver_width_m : float
        A gap or overlap part is a *sliver* (reported apart) when its area is below
        ``sliver_m2`` (m²) or its mean width ``2·area/perimeter`` is below ``sliver_width_m`` (m).
    touch_tol_m : float
        A zone within this distance (m) of a gap borders it.
    assets : dict, optional
        layer name → GeoDataFrame (lamps, toilets, roads, inspections); features intersecting no
        zone are listed in ``unassigned`` (open cases only for inspections).

    Returns
    -------
    AuditResult

    Notes
    -----
    Gaps = connected parts of ``B − ⋃Z``; overlaps = connected parts of ``⋃_{i<j}(Z_i ∩ Z_j)``
    (overlaps anywhere, also outside ``B``). The suggested owner of a gap is the bordering zone
    with the longest shared border (GB/T 30428 grids: closed, no gaps, no overlaps).
    """
    if zones.crs is not None and built_up.crs is not None and not CRS.from_user_input(zones.crs).equals(built_up.crs):
        zones = zones.to_crs(built_up.crs)
    crs = built_up.crs
    if crs is not None and not CRS.from_user_input(crs).is_projected:
        raise ValueError("audit_coverage needs a projected metric CRS (metres), not degrees")
    if "zone_id" not in zones:
        raise ValueError("zones: missing field zone_id")
    zone_geoms = np.asarray(zones.geometry.values)
    zone_ids = zones["zone_id"].astype(str).to_numpy()
    bad = shapely.is_missing(zone_geoms) | ~shapely.is_valid(zone_geoms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"zones: feature {zone_ids[i]!r} field geometry is missing or invalid "
                         f"({shapely.is_valid_reason(zone_geoms[i]) if zone_geoms[i] is not None else 'missing'}); "
                         "repair it with civgis validate --repair")

    built = shapely.union_all(np.asarray(built_up.geometry.values))
    built_area = float(shapely.area(built))
    zoned_area = float(shapely.area(shapely.intersection(built, shapely.union_all(zone_geoms))))

    # ---- gaps
    gparts = find_gaps(built_up.geometry, zones.geometry)
    g_sliver, g_width = _is_sliver(gparts, sliver_m2, sliver_width_m)
    g_nb, g_len = _neighbours(gparts, zone_geoms, zone_ids, touch_tol_m)

    # ---- overlaps
    oparts = find_overlaps(zones.geometry)
    o_sliver, o_width = _is_sliver(oparts, sliver_m2, sliver_width_m)
    o_zones = _zones_of(oparts, zone_geoms, zone_ids, min_area=0.0)

    def located(parts, extra: dict, prefix: str) -> gpd.GeoDataFrame:
        if len(parts) == 0:
            return _empty([f"{prefix}_id", "area_m2", "centroid_x", "centroid_y", "lon", "lat", *extra], crs)
        cent = shapely.point_on_surface(parts)  # inside the part even for L-shapes
        lon, lat = lonlat(cent, crs)
        df = gpd.GeoDataFrame({"area_m2": shapely.area(parts), "centroid_x": shapely.get_x(cent),
                               "centroid_y": shapely.get_y(cent), "lon": lon, "lat": lat, **extra},
                              geometry=list(parts), crs=crs)
        df = df.sort_values("area_m2", ascending=False, kind="stable").reset_index(drop=True)
        df.insert(0, f"{prefix}_id", [f"{prefix[0].upper()}{i + 1:03d}" for i in range(len(df))])
        return df

    keep = ~g_sliver
    gaps = located(gparts[keep], {"neighbours": [g_nb[i] for i in np.flatnonzero(keep)],
                                  "border_m": [g_len[i] for i in np.flatnonzero(keep)],
                                  "suggested_zone": [g_nb[i][0] if g_nb[i] else None for i in np.flatnonzero(keep)]},
                   "gap")
    keep = ~o_sliver
    overlaps = located(oparts[keep], {"zones": [o_zones[i] for i in np.flatnonzero(keep)]}, "overlap")

    sl_parts = np.concatenate([gparts[g_sliver], oparts[o_sliver]]) if (g_sliver.any() or o_sliver.any()) else []
    if len(sl_parts):
        slivers = gpd.GeoDataFrame({
            "kind": ["gap"] * int(g_sliver.sum()) + ["overlap"] * int(o_sliver.sum()),
            "area_m2": shapely.area(sl_parts),
            "width_m": np.concatenate([g_width[g_sliver], o_width[o_sliver]]),
            "zones": [g_nb[i] for i in np.flatnonzero(g_sliver)] + [o_zones[i] for i in np.flatnonzero(o_sliver)],
            "suggested_zone": [g_nb[i][0] if g_nb[i] else None for i in np.flatnonzero(g_sliver)]
            + [None] * int(o_sliver.sum()),
        }, geometry=list(sl_parts), crs=crs)
    else:
        slivers = _empty(["kind", "area_m2", "width_m", "zones", "suggested_zone"], crs)

    unassigned = unassigned_assets(zones, assets) if assets else {}
    inside = unassigned_assets(zones, assets, within=built) if assets else {}
    return AuditResult(gaps=gaps, overlaps=overlaps, slivers=slivers, unassigned=unassigned,
                       unassigned_in_built_up=inside,
                       zones_missing_contact=zones_missing_contact(zones), built_up_area_m2=built_area,
                       zoned_area_m2=zoned_area, sliver_m2=sliver_m2, sliver_width_m=sliver_width_m)


def audit_workspace(ws, *, sliver_m2: float = SLIVER_M2, sliver_width_m: float = SLIVER_WIDTH_M,
                    touch_tol_m: float = TOUCH_TOL_M) -> AuditResult:
    """:func:`audit_coverage` on a workspace's ``built_up`` and ``zones``, with every asset layer it has."""
    assets = {layer: ws.read(layer) for layer in ASSET_LAYERS if ws.has(layer)}
    return audit_coverage(ws.read("built_up"), ws.read("zones"), sliver_m2=sliver_m2,
                          sliver_width_m=sliver_width_m, touch_tol_m=touch_tol_m, assets=assets)


# ---------------------------------------------------------------------------- repair
def assign_gaps(zones: gpd.GeoDataFrame, result: AuditResult, *, include_slivers: bool = True) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """Zones with every gap joined to its suggested zone (pure; nothing written).

    Returns the new zones and one record per gap: ``{"gap_id", "area_m2", "zone_id"}``
    (``zone_id`` None when the gap borders no zone and stays open).
    """
    pieces = [(r.gap_id, r.suggested_zone, r.geometry, float(r.area_m2)) for r in result.gaps.itertuples()]
    if include_slivers:
        pieces += [(f"S{i + 1:03d}", r.suggested_zone, r.geometry, float(r.area_m2))
                   for i, r in enumerate(result.slivers.itertuples()) if r.kind == "gap"]
    out = zones.copy()
    ids = out["zone_id"].astype(str)
    applied = []
    by_zone: dict[str, list] = {}
    for gap_id, zone_id, geom, area in pieces:
        applied.append({"gap_id": gap_id, "area_m2": round(area, 2), "zone_id": zone_id})
        if zone_id is not None:
            by_zone.setdefault(zone_id, []).append(geom)
    geoms = out.geometry.values.copy()
    for zone_id, gaps in by_zone.items():
        (idx,) = np.flatnonzero(ids.to_numpy() == zone_id)[:1]
        merged = shapely.union_all([geoms[idx], *gaps])
        geoms[idx] = shapely.make_valid(merged) if not merged.is_valid else merged
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    return out, applied


def fix_gaps(ws, result: AuditResult | None = None, *, include_slivers: bool = True) -> list[dict]:
    """Join each gap to its suggested zone and write ``zones`` back atomically.

    The zones as they were are appended to the table ``zones_history`` (columns ``version``,
    ``archived_at``, ``reason`` plus the zone fields) in the same transaction; undo with
    :func:`restore_zones` (``civgis audit WS --restore-zones``).
    """
    result = result or audit_workspace(ws)
    zones = ws.read("zones")
    new, applied = assign_gaps(zones, result, include_slivers=include_slivers)
    if not any(a["zone_id"] for a in applied):
        return applied
    _replace_zones(ws, new, old=zones, reason="fix-gaps")
    return applied


def history_versions(ws) -> pd.DataFrame:
    """The archived zone versions: ``version, archived_at, reason, zones`` (count)."""
    import pyogrio

    if HISTORY_TABLE not in {str(n) for n, _ in pyogrio.list_layers(ws.path)}:
        return pd.DataFrame(columns=["version", "archived_at", "reason", "zones"])
    h = pyogrio.read_dataframe(ws.path, layer=HISTORY_TABLE, read_geometry=False)
    return (h.groupby(["version", "archived_at", "reason"], as_index=False).size()
            .rename(columns={"size": "zones"}).sort_values("version").reset_index(drop=True))


def restore_zones(ws, version: int | None = None) -> int:
    """Put an archived version of ``zones`` back (default: the latest); the current zones are archived first.

    Returns the version restored.
    """
    import pyogrio


    versions = history_versions(ws)
    if versions.empty:
        raise WorkspaceError(f"{ws.path.name}: no {HISTORY_TABLE} table — nothing to restore")
    version = int(versions["version"].max()) if version is None else int(version)
    if version not in set(versions["version"].astype(int)):
        raise WorkspaceError(f"{HISTORY_TABLE}: no version {version}; have {sorted(versions['version'].astype(int))}")
    h = pyogrio.read_dataframe(ws.path, layer=HISTORY_TABLE, where=f"version = {version}")
    old = apply_catalogue_dtypes(h.drop(columns=["version", "archived_at", "reason"]), layer_spec("zones"))
    _replace_zones(ws, old, old=ws.read("zones"), reason=f"restore-{version}")
    return version


def _replace_zones(ws, new: gpd.GeoDataFrame, *, old: gpd.GeoDataFrame, reason: str) -> None:
    import pyogrio


    spec = layer_spec("zones")
    versions = history_versions(ws)
    version = int(versions["version"].max()) + 1 if not versions.empty else 1
    arch = _prepare_for_gpkg(old, spec)
    arch.insert(0, "reason", reason)
    arch.insert(0, "archived_at", dt.datetime.now().isoformat(timespec="seconds"))
    arch.insert(0, "version", version)
    new = _prepare_for_gpkg(new.to_crs(ws.crs) if ws.crs is not None else new, spec)
    with ws.transaction() as staged:
        pyogrio.write_dataframe(arch, staged, layer=HISTORY_TABLE, driver="GPKG", promote_to_multi=True,
                                append=version > 1)
        pyogrio.write_dataframe(new, staged, layer="zones", driver="GPKG", promote_to_multi=True)
        ws._append_log(staged, action=reason, layer="zones", source=f"{HISTORY_TABLE} version {version} keeps the old zones",
                       count=len(new))
