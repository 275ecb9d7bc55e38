"""Civilized-city indicators (创建指标), city-wide and per responsibility zone, against targets.

Every measure is taken inside the built-up boundary (建成区), in the workspace's projected metric
CRS. Percentages are in percent (0–100), areas in m², lengths in m. The formulas, with their
standards (thresholds live in ``data/targets.toml``, see :mod:`civgis.store.targets`):

``green_space_ratio`` 建成区绿地率 (%)
    ``|∪(green G1, G2, G3, XG) ∩ B| / |B|`` — green *land* parcels, overlaps counted once, parts
    outside the built-up area ``B`` excluded (CJJ/T 85-2017 classes; EG excluded by default).
``green_coverage_ratio`` 建成区绿化覆盖率 (%)
    ``Σ_pixels f_p · w_p / Σ_pixels w_p`` over the canopy raster, ``f_p`` the fractional vegetation
    cover (0–1) of pixel *p* and ``w_p`` the exact share of the pixel inside ``B`` (boundary pixels
    clipped geometrically). No raster → reported as unavailable (NaN with a note), never guessed.
``park_area_per_capita`` 人均公园绿地面积 (m²/人, GB 55014-2021 2.1.3)
    ``|∪G1 ∩ B| / P``, ``P`` the official population from the targets file, else the residential
    population inside ``B`` (blocks straddling the boundary apportioned by area).
``park_service_coverage`` 公园绿地服务半径覆盖率 (%, GB 55014-2021)
    ``|R ∩ ∪ buffer(park_i, r_i)| / |R|`` with ``R = ∪ residential ∩ B`` the residential *land*
    (overlapping blocks counted once, as for green land) and
    qualifying parks by tier (default G1 ≥ 5 000 m² → 500 m, 1 000–5 000 m² → 300 m, buffered
    from the park boundary; see :func:`qualifying_parks`).
``park_walk_coverage`` 公园绿地步行可达覆盖率 (%)
    The same share, but residential land counts only where the walk along the street network
    from the park's edge (plus the straight step from the street) is within the radius
    (:mod:`civgis.analysis.network`). The unioned residential land is sampled on a ``walk_cell_m``
    grid, each cell weighted by its exact area inside the land.
Per block (not unioned): the residents (each block's population, apportioned by the block's
    area inside ``B``) and :func:`residential_service`'s table, whose ``res_m2``/``served_m2`` are
    each block's own land, so overlapping blocks there each show their whole area.
``lamp_installation_rate`` 道路装灯率 (%, per road class and overall)
    Each lamp belongs to its nearest road within ``lamp_snap_m``; the lit length of a road is its
    length within ``lamp_reach_m`` (default 25 m) of *its own* lamps; rate = lit length ÷ length.
``lamp_lighting_rate`` 路灯亮灯率 (%, per road class and overall)
    ``working lamps ÷ lamps`` (lamps inside ``B``; the class is that of the lamp's road).
``toilet_density`` 公厕密度 (座/km²) — toilets inside ``B`` ÷ ``|B|`` in km².
``toilets_per_10k`` 每万人公厕数 (座/万人) — toilets inside ``B`` ÷ ``P`` × 10 000.
``toilet_service_coverage`` 公厕服务半径覆盖率 (%) — ``|B ∩ ∪ buffer(toilet, toilet_radius_m)| / |B|``.
``accessible_toilet_share`` 无障碍公厕比例 (%) — accessible ÷ toilets whose accessibility is known.
``mech_sweeping_rate`` 道路机械化清扫率 (%)
    ``Σ length·width_m (mech_swept) / Σ length·width_m`` of road centre lines inside ``B``
    (roads without a width are left out of both and counted in the note).

Per zone (``zones=True``) the same measures that make sense on a zone (green ratio, park service
coverage, lamp rates, toilet coverage, sweeping) plus the zone's area inside ``B``, road length,
lamp and toilet counts and residents are computed on ``zone ∩ B``. Points on a border between
two zones count in both, and so does a road running along the border (within
``EDGE_TOLERANCE_M`` = 1 cm for at least 1 m, which also makes the clipping robust to the last
digit); a road crossing a border is cut exactly.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> B = gpd.GeoDataFrame({"name": ["城区"]}, geometry=[box(0, 0, 100, 100)], crs=4527)
>>> G = gpd.GeoDataFrame({"green_id": ["a", "b"], "category": ["G1", "XG"]},
...                      geometry=[box(0, 0, 40, 50), box(20, 0, 60, 50)], crs=4527)
>>> green_space_ratio(G, B)              # ∪ = 60 × 50 = 3 000 m² of 10 000 m²
30.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from civgis.analysis import network as _net
from civgis.analysis.lamps import lamp_states
from civgis.store.cache import NO_CACHE, WorkspaceCache, content_key, workspace_cache
from civgis.store.catalogue import layer_spec
from civgis.store.targets import Targets, default_parameters, load_targets

__all__ = ["INDICATORS", "COLUMNS", "GREEN_SPACE_CATEGORIES", "PARK_CATEGORIES", "PARK_TIERS",
           "EDGE_TOLERANCE_M", "BORDER_MIN_M", "PARAMETER_NAMES", "IndicatorError", "union", "chop",
           "union_pieces", "intersect_pieces", "clip_to_pieces", "area_by", "Regions", "city_region", "zone_regions", "park_radius",
           "qualifying_parks", "park_service_area", "residential_service", "bbox_grid_cells", "assign_lamps",
           "convex_clip_intervals", "lamp_coverage", "unlit_stretches", "walk_samples", "green_coverage_ratio", "measure", "ORDER",
           "indicator_table", "compute_indicators", "green_space_ratio", "park_area_per_capita", "green_land_indicators",
           "park_service_coverage", "park_walk_coverage", "lamp_installation_rate", "lamp_lighting_rate",
           "toilet_density", "toilets_per_10k", "toilet_service_coverage", "accessible_toilet_share",
           "mech_sweeping_rate"]

#: indicator id → (Chinese name, unit)
INDICATORS: dict[str, tuple[str, str]] = {
    "green_space_ratio": ("建成区绿地率", "%"),
    "green_coverage_ratio": ("建成区绿化覆盖率", "%"),
    "park_area_per_capita": ("人均公园绿地面积", "m²/人"),
    "park_service_coverage": ("公园绿地服务半径覆盖率", "%"),
    "park_walk_coverage": ("公园绿地步行可达覆盖率", "%"),
    "lamp_installation_rate": ("道路装灯率", "%"),
    "lamp_lighting_rate": ("路灯亮灯率", "%"),
    "toilet_density": ("公厕密度", "座/km²"),
    "toilets_per_10k": ("每万人公厕数", "座/万人"),
    "toilet_service_coverage": ("公厕服务半径覆盖率", "%"),
    "accessible_toilet_share": ("无障碍公厕比例", "%"),
    "mech_sweeping_rate": ("道路机械化清扫率", "%"),
    "area": ("建成区内面积", "m²"),
    "road_length": ("道路长度", "m"),
    "lamp_count": ("路灯数", "盏"),
    "broken_lamp_count": ("故障路灯数", "盏"),
    "toilet_count": ("公厕数", "座"),
    "residents": ("居住人口", "人"),
}

COLUMNS = ["indicator", "name_zh", "scope", "zone_id", "zone_name", "road_class", "value", "unit", "target",
           "comparison", "passed", "responsible_unit", "standard", "note"]

#: The package's default parameters (``data/targets.toml`` [parameters], the one place they live);
#: the workspace functions pass the workspace's own :class:`~civgis.store.targets.Parameters`.
_DEFAULT = default_parameters()
#: Green land classes counted in 绿地率 (CJJ/T 85-2017; EG only in limited cases) — from the targets file
GREEN_SPACE_CATEGORIES = _DEFAULT.green_space_categories
PARK_CATEGORIES = _DEFAULT.park_categories
#: (minimum park area m², service radius m), largest first [unconfirmed, GB/T 50563-2010] — from the targets file
PARK_TIERS = _DEFAULT.park_tiers

#: a road running within this distance of a region's edge for at least BORDER_MIN_M belongs to it
EDGE_TOLERANCE_M = 0.01
BORDER_MIN_M = 1.0

#: the parameters :func:`indicators_from_frames` accepts as keywords (fields of Parameters)
PARAMETER_NAMES = tuple(_DEFAULT.to_dict())


class IndicatorError(ValueError):
    """Input the indicators cannot use (names the layer, the feature and the field)."""


# ============================================================================ geometry helpers
def _geoms(obj) -> np.ndarray:
    if obj is None:
        return np.empty(0, dtype=object)
    if isinstance(obj, shapely.Geometry):
        return np.array([obj], dtype=object)
    geoms = np.asarray(getattr(obj, "geometry", obj), dtype=object)
    return geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    parts = shapely.get_parts(geoms)
    return parts[(shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)]


def union(geoms) -> shapely.Geometry:
    """Union of polygons (invalid ones repaired first), so overlaps count once."""
    geoms = _geoms(geoms)
    if len(geoms) == 0:
        return shapely.Polygon()
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    return shapely.union_all(_polygonal(geoms))


def union_pieces(geoms) -> np.ndarray:
    """Polygons with pairwise disjoint interiors that cover ``∪ geoms`` — the union for measuring areas.

    Only the polygons whose interior meets another's (DE-9IM ``T********``, found through an
    STRtree) go through ``shapely.union_all``; the others are kept as they are. Polygons that
    only touch along an edge need no union to be counted once. ``Σ area`` of the result is
    ``|∪ geoms|`` (to rounding), and on a layer where few polygons overlap it costs a fraction
    of the full union (10 396 green polygons of the 10× county, 1 748 overlapping: 0.65 s
    against 5.1 s). Invalid polygons are repaired first, as in :func:`union`.

    >>> from shapely.geometry import box
    >>> parts = union_pieces([box(0, 0, 2, 2), box(1, 0, 3, 2), box(3, 0, 4, 2)])
    >>> len(parts), float(shapely.area(parts).sum())     # the first two merged; the third touches only
    (2, 8.0)
    """
    geoms = _geoms(geoms)
    if len(geoms) == 0:
        return np.empty(0, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    parts = _polygonal(geoms)
    i, j = shapely.STRtree(parts).query(parts, predicate="intersects")
    pair = i < j
    i, j = i[pair], j[pair]
    over = shapely.relate_pattern(parts[i], parts[j], "T********")
    involved = np.zeros(len(parts), dtype=bool)
    involved[i[over]] = True
    involved[j[over]] = True
    if not involved.any():
        return parts
    return np.concatenate([parts[~involved], _polygonal(np.array([shapely.union_all(parts[involved])], dtype=object))])


def chop(geom, max_vertices: int = 256) -> np.ndarray:
    """Split a polygonal geometry into disjoint polygons of at most ~``max_vertices`` vertices.

    Quadrant subdivision (like PostGIS ``ST_Subdivide``): pairwise intersections with small pieces
    stay cheap however large the union is.
    """
    parts = _polygonal(_geoms(geom))
    done = []
    for _ in range(32):
        big = shapely.get_num_coordinates(parts) > max_vertices
        done.append(parts[~big])
        parts = parts[big]
        if len(parts) == 0:
            break
        x0, y0, x1, y1 = shapely.bounds(parts).T
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        quads = shapely.box(np.r_[x0, xm, x0, xm], np.r_[y0, y0, ym, ym], np.r_[xm, x1, xm, x1], np.r_[ym, ym, y1, y1])
        pieces = shapely.intersection(np.tile(parts, 4), quads)
        parts = _polygonal(pieces)
    done.append(parts)
    return np.concatenate(done) if done else np.empty(0, dtype=object)


def intersect_pieces(a: np.ndarray, b: np.ndarray, a_owner: np.ndarray | None = None):
    """Pieces of ``(∪a) ∩ (∪b)`` for two arrays of disjoint pieces; returns (pieces, owner of a)."""
    a_owner = np.arange(len(a)) if a_owner is None else np.asarray(a_owner)
    if len(a) == 0 or len(b) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    ia, ib = shapely.STRtree(b).query(a, predicate="intersects")
    parts, idx = shapely.get_parts(_intersect_pairs(a[ia], b[ib]), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], a_owner[ia[idx[keep]]]


def _intersect_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``shapely.intersection(a, b)`` pair by pair, where one of the pair lying inside the other is kept whole.

    Most pairs of a layer and small chopped pieces are a polygon inside a piece or a piece inside
    a polygon: a prepared ``contains`` answers those for a fraction of an overlay (the 10× county's
    green polygons against its zone pieces: 10 000 pairs, 0.30 s of overlays → 0.08 s), and only the
    pairs that cross are intersected. The kept geometry is the intersection's (its area equal to
    rounding; its vertices need not be listed in the same order).
    """
    out = np.empty(len(a), dtype=object)
    if len(a) == 0:
        return out
    shapely.prepare(b)
    a_in_b = shapely.contains(b, a)
    out[a_in_b] = a[a_in_b]
    rest = np.flatnonzero(~a_in_b)
    shapely.prepare(a[rest])
    b_in_a = shapely.contains(a[rest], b[rest])
    out[rest[b_in_a]] = b[rest[b_in_a]]
    cross = rest[~b_in_a]
    out[cross] = shapely.intersection(a[cross], b[cross])
    return out


def clip_to_pieces(geoms, pieces: np.ndarray) -> np.ndarray:
    """Each polygon clipped to ``∪ pieces`` (disjoint pieces, as :func:`chop` makes them).

    The same geometry as ``shapely.intersection(geoms, ∪ pieces)``, but each polygon meets only
    the small pieces near it (STRtree), a polygon inside one piece is kept as it is (prepared
    ``contains``), and only a polygon cut by piece edges is intersected — with those pieces,
    its parts on either side of a cut merged again. Intersecting 80 000 grid cells with a whole
    built-up area (1 456 vertices) costs each cell the whole outline: 15 s at 10× the demo,
    ~0.3 s this way. Polygons outside every piece become empty polygons.

    >>> from shapely.geometry import box
    >>> pieces = chop(box(0, 0, 4, 4).difference(box(1, 1, 3, 3)), max_vertices=8)
    >>> clipped = clip_to_pieces([box(0, 0, 2, 2), box(10, 10, 11, 11)], pieces)
    >>> float(clipped[0].area), bool(clipped[1].is_empty)    # the 2×2 corner less the 1×1 of the hole
    (3.0, True)
    """
    geoms = _geoms(geoms)
    out = np.full(len(geoms), shapely.Polygon(), dtype=object)
    if len(geoms) == 0 or len(pieces) == 0:
        return out
    gi, pi = shapely.STRtree(pieces).query(geoms, predicate="intersects")
    shapely.prepare(pieces)
    whole = shapely.contains(pieces[pi], geoms[gi])
    out[gi[whole]] = geoms[gi[whole]]
    inside_one = np.zeros(len(geoms), dtype=bool)
    inside_one[gi[whole]] = True
    cut = ~inside_one[gi]
    parts, idx = shapely.get_parts(shapely.intersection(geoms[gi[cut]], pieces[pi[cut]]), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, owner = parts[keep], gi[cut][idx[keep]]
    order = np.argsort(owner, kind="stable")
    parts, owner = parts[order], owner[order]
    ids, first, count = np.unique(owner, return_index=True, return_counts=True)
    one = count == 1
    out[ids[one]] = parts[first[one]]
    for geom_id, start, n in zip(ids[~one], first[~one], count[~one]):  # the few polygons across piece edges
        out[geom_id] = shapely.union_all(parts[start:start + n])
    return out


def area_by(owner: np.ndarray, pieces: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(owner, weights=shapely.area(pieces), minlength=n) if len(pieces) else np.zeros(n)


# ============================================================================ regions (city / zones)
@dataclass
class Regions:
    """Where indicators are measured: disjoint pieces of ``region ∩ built-up`` with their region."""

    ids: list
    names: list
    pieces: np.ndarray
    owner: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    def area(self) -> np.ndarray:
        return area_by(self.owner, self.pieces, self.n)

    def points_in(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point index, region) pairs, each pair once even on a seam between pieces."""
        if len(geoms) == 0 or len(self.pieces) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        ip, ir = shapely.STRtree(self.pieces).query(geoms, predicate="intersects")
        pairs = np.unique(np.c_[ip, self.owner[ir]], axis=0)
        return pairs[:, 0], pairs[:, 1]


def city_region(built_up) -> Regions:
    return Regions(["city"], ["建成区"], pieces := chop(union(built_up)), np.zeros(len(pieces), dtype=np.int64))


def zone_regions(zones: gpd.GeoDataFrame, built_up) -> Regions:
    bu = chop(union(built_up))
    zg = np.asarray(zones.geometry.values, dtype=object)
    zg = np.where(shapely.is_valid(zg), zg, shapely.make_valid(zg))
    pieces, owner = intersect_pieces(zg, bu)
    names = zones["name"].astype(object).where(zones["name"].notna(), "").tolist() if "name" in zones else [""] * len(zones)
    return Regions(zones["zone_id"].astype(object).tolist(), names, pieces, owner)


# ============================================================================ green and parks
def _category_mask(green: gpd.GeoDataFrame, categories) -> np.ndarray:
    if "category" not in green:
        raise IndicatorError("图层 green（绿地）缺少字段 category（绿地类别）")
    return green["category"].astype(object).isin(list(categories)).to_numpy()


def park_radius(area_m2, tiers=PARK_TIERS) -> np.ndarray:
    """Service radius (m) of a park of the given area (m²): the radius of the largest tier it reaches, else 0.

    >>> park_radius([999, 1000, 4999, 5000]).tolist()
    [0.0, 300.0, 300.0, 500.0]
    """
    area = np.asarray(area_m2, dtype=float)
    radius = np.zeros(area.shape)
    for min_area, r in sorted(((float(a), float(r)) for a, r in tiers)):  # smallest first; larger overwrite
        radius[area >= min_area] = r
    return radius


def qualifying_parks(green: gpd.GeoDataFrame, *, tiers=PARK_TIERS, categories=PARK_CATEGORIES) -> gpd.GeoDataFrame:
    """Parks that have a service radius, with their area and radius.

    Parameters
    ----------
    green : GeoDataFrame of the ``green`` layer (metric CRS)
    tiers : sequence of (min_area_m2, radius_m)
        A park serves the radius of the largest tier whose minimum area it reaches. Default
        ``((5000, 500), (1000, 300))`` [unconfirmed, GB/T 50563-2010]: a 4 000 m² park serves 300 m,
        a 900 m² one serves none.
    categories : the green classes that are parks (default G1 公园绿地)

    Returns
    -------
    GeoDataFrame: the qualifying rows of ``green`` plus ``park_area_m2`` and ``radius_m``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame({"green_id": ["a", "b", "c"], "category": ["G1", "G1", "G2"]},
    ...                      geometry=[box(0, 0, 80, 50), box(0, 0, 30, 30), box(0, 0, 100, 100)], crs=4527)
    >>> qualifying_parks(g)[["green_id", "park_area_m2", "radius_m"]].values.tolist()
    [['a', 4000.0, 300.0]]
    """
    parks = green[_category_mask(green, categories)].copy()
    area = parks.geometry.area.to_numpy()
    radius = park_radius(area, tiers)
    parks["park_area_m2"] = area
    parks["radius_m"] = radius
    return parks[radius > 0]


def park_service_area(parks: gpd.GeoDataFrame, *, radius_column: str = "radius_m") -> shapely.Geometry:
    """Union of every park buffered from its boundary by its own radius (m)."""
    if len(parks) == 0:
        return shapely.Polygon()
    return union(shapely.buffer(np.asarray(parks.geometry.values, dtype=object), parks[radius_column].to_numpy(float),
                                quad_segs=16))


def residential_service(residential: gpd.GeoDataFrame, green: gpd.GeoDataFrame, *, tiers=PARK_TIERS,
                        categories=PARK_CATEGORIES, built_up=None) -> pd.DataFrame:
    """Per residential block: its land, the part inside a qualifying park's service radius, residents.

    These are per-block figures: two overlapping blocks each show their own whole area, so the
    column sums are not the residential land (``park_service_coverage`` unions the land first).

    ``res_m2`` is the block's area (inside ``built_up`` when given), ``served_m2`` the part of it in
    the union of park service areas, ``residents`` the block's population (its share inside
    ``built_up``), ``residents_served`` = residents × served share (residents are assumed spread
    evenly over the block). The greening analysis uses the unserved rest.

    Returns
    -------
    DataFrame indexed like ``residential`` with ``res_m2``, ``served_m2``, ``served_share``,
    ``residents``, ``residents_served``.
    """
    geoms = np.asarray(residential.geometry.values, dtype=object)
    n = len(geoms)
    owner = np.arange(n)
    pieces = geoms
    if built_up is not None:
        pieces, owner = intersect_pieces(geoms, chop(union(built_up)))
    res_m2 = area_by(owner, pieces, n)
    served_pieces, served_owner = intersect_pieces(pieces, chop(park_service_area(
        qualifying_parks(green, tiers=tiers, categories=categories))), owner)
    served = area_by(served_owner, served_pieces, n)
    full = shapely.area(geoms)
    pop = _population(residential)
    share = np.divide(served, res_m2, out=np.zeros(n), where=res_m2 > 0)
    inside = np.divide(res_m2, full, out=np.zeros(n), where=full > 0)
    return pd.DataFrame({"res_m2": res_m2, "served_m2": served, "served_share": share,
                         "residents": pop * inside, "residents_served": pop * inside * share},
                        index=residential.index)


def _population(residential: gpd.GeoDataFrame) -> np.ndarray:
    if "population" not in residential:
        raise IndicatorError("图层 residential（居住用地）缺少字段 population（人口）")
    pop = pd.to_numeric(residential["population"], errors="coerce")
    bad = pop.isna() | (pop < 0)
    if bad.any():
        i = np.flatnonzero(bad.to_numpy())[0]
        fid = residential["res_id"].iloc[i] if "res_id" in residential else residential.index[i]
        raise IndicatorError(f"图层 residential（居住用地）要素 {fid} 的字段 population（人口）无效: "
                             f"{residential['population'].iloc[i]!r}")
    return pop.to_numpy(float)


def bbox_grid_cells(geoms: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid cells (squares aligned on multiples of ``cell_m`` metres) covering each geometry's bbox.

    Returns ``(cells, owner, n_per_geometry)``: the cell boxes, the index of the geometry each
    cell belongs to, and how many cells each geometry's bounding box spans. Vectorised: no loop
    over geometries. Used to split areas into small demand or sample units.
    """
    b = shapely.bounds(geoms)
    i0 = np.floor(b[:, 0] / cell_m).astype(np.int64)
    j0 = np.floor(b[:, 1] / cell_m).astype(np.int64)
    ni = np.maximum(np.ceil(b[:, 2] / cell_m).astype(np.int64) - i0, 1)
    nj = np.maximum(np.ceil(b[:, 3] / cell_m).astype(np.int64) - j0, 1)
    counts = ni * nj
    owner = np.repeat(np.arange(len(geoms)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ci = i0[owner] + k % ni[owner]
    cj = j0[owner] + k // ni[owner]
    cells = shapely.box(ci * cell_m, cj * cell_m, (ci + 1) * cell_m, (cj + 1) * cell_m)
    return cells, owner, counts


def _sample_cells(pieces: np.ndarray, owner: np.ndarray, cell_m: float):
    """Grid cells (aligned on multiples of ``cell_m``) ∩ pieces: (centroid points, area, owner)."""
    if len(pieces) == 0:
        return np.empty(0, dtype=object), np.empty(0), np.empty(0, np.int64)
    cells, piece, _ = bbox_grid_cells(pieces, cell_m)
    shapely.prepare(pieces)
    full = shapely.contains(pieces[piece], cells)        # prepared: cheap; only edge cells are cut
    edge = np.flatnonzero(~full)
    edge = edge[shapely.intersects(pieces[piece[edge]], cells[edge])]
    inter = shapely.intersection(cells[edge], pieces[piece[edge]])
    area_e = shapely.area(inter)
    ok = area_e > 0
    inside = np.flatnonzero(full)
    points = np.r_[shapely.centroid(cells[inside]), shapely.centroid(inter[ok])]
    area = np.r_[np.full(len(inside), cell_m * cell_m), area_e[ok]]
    return points, area, np.asarray(owner)[np.r_[piece[inside], piece[edge[ok]]]]


# ============================================================================ roads and lamps
@dataclass
class _RoadCover:
    """Lit stretches of every road part as merged intervals; ``lit(part, a, b)`` in metres."""

    key: np.ndarray
    a: np.ndarray
    b: np.ndarray
    span: float

    def __post_init__(self):
        lengths = self.b - self.a
        self._S = self.key * self.span + self.a
        self._len = lengths
        self._cum = np.r_[0.0, np.cumsum(lengths)]

    def upto(self, part: np.ndarray, s: np.ndarray) -> np.ndarray:
        if len(self.key) == 0:
            return np.zeros(len(part))
        Q = np.asarray(part) * self.span + np.asarray(s, float)
        k = np.searchsorted(self._S, Q, side="right") - 1
        kk = np.clip(k, 0, None)
        val = self._cum[kk] + np.clip(Q - self._S[kk], 0.0, self._len[kk])
        return np.where(k >= 0, val, 0.0)

    def lit(self, part, a, b) -> np.ndarray:
        return self.upto(part, b) - self.upto(part, a)


def _road_parts(roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Single-part road lines with ``_road`` = the row position of the road they belong to."""
    roads = roads.reset_index(drop=True)
    roads = roads.assign(_road=np.arange(len(roads)))
    parts = roads[~(roads.geometry.isna() | roads.geometry.is_empty)].explode(index_parts=False)
    parts = parts[shapely.get_type_id(np.asarray(parts.geometry.values)) == 1]
    return parts.reset_index(drop=True)


def assign_lamps(lamps: gpd.GeoDataFrame, roads, *, snap_m: float = 40.0) -> np.ndarray:
    """Index of each lamp's nearest road within ``snap_m`` (−1 for none).

    ``roads`` are whole roads ((Multi)LineStrings, one per road): a lamp on the median of a
    dual carriageway stored as one MultiLineString belongs to that road, whichever part is nearer.
    """
    out = np.full(len(lamps), -1, dtype=np.int64)
    geoms = np.asarray(getattr(roads, "geometry", roads), dtype=object)
    if len(lamps) == 0 or len(geoms) == 0:
        return out
    pts = np.asarray(lamps.geometry.values, dtype=object)
    li, ri = shapely.STRtree(geoms).query_nearest(pts, max_distance=snap_m, all_matches=False)
    out[li] = ri
    return out


def _road_cover(parts: np.ndarray, part_road: np.ndarray, lamps: gpd.GeoDataFrame, owner: np.ndarray,
                reach_m: float) -> _RoadCover:
    """Lit intervals of every road part: within ``reach_m`` of a lamp of its own road (``owner``)."""
    span = float(shapely.length(parts).max()) + 1.0 if len(parts) else 1.0
    has = np.flatnonzero(owner >= 0)
    if len(has) == 0 or len(parts) == 0:
        return _RoadCover(np.empty(0, np.int64), np.empty(0), np.empty(0), span)
    pts = np.asarray(lamps.geometry.values, dtype=object)[has]
    reach = _discs(pts, reach_m, quad_segs=16)
    il, ip = shapely.STRtree(parts).query(reach, predicate="intersects")
    own = part_road[ip] == owner[has][il]           # a lamp lights every part of its own road, no other
    il, ip = il[own], ip[own]
    ring = shapely.get_coordinates(shapely.buffer(shapely.Point(0.0, 0.0), reach_m, quad_segs=16))
    key, a, b = convex_clip_intervals(parts, ip, shapely.get_coordinates(pts)[il], ring)
    return _RoadCover(*_net.merge_intervals(key, a, b, span=span), span=span)


def _lamp_cover(parts: np.ndarray, part_road: np.ndarray, roads: gpd.GeoDataFrame, lamps: gpd.GeoDataFrame, *,
                snap_m: float, reach_m: float, cache: WorkspaceCache = NO_CACHE,
                key: str | None = None) -> tuple[np.ndarray, _RoadCover]:
    """``(each lamp's road, the lit stretches of every road part)``: each lamp assigned to its road
    (:func:`assign_lamps`), lighting ``reach_m`` of it (:func:`_road_cover`).

    From the workspace cache when the roads, the lamps and the two distances are unchanged (key: their
    geometries and values), else computed and stored — the same intervals bit for bit, as the walking
    inputs (:func:`_walk_inputs`). Warm, this is ~1 s less on the 10× county (41 599 lamps).
    """
    def compute():
        owner = assign_lamps(lamps, roads.geometry.values, snap_m=snap_m)
        cover = _road_cover(parts, part_road, lamps, owner, reach_m)
        return {"owner": owner, "key": cover.key, "a": cover.a, "b": cover.b, "span": cover.span}

    if key is None:   # measure() passes its own (the layers hashed once per table)
        key = content_key("lamp_cover", roads, parts, part_road, lamps, float(snap_m), float(reach_m))
    got = cache.get_or_compute("lamp_cover", key, compute)
    return got["owner"], _RoadCover(got["key"], got["a"], got["b"], float(got["span"]))


def convex_clip_intervals(lines: np.ndarray, line_of: np.ndarray, centres: np.ndarray, ring: np.ndarray):
    """Stretches of single-part lines inside convex polygons, as intervals ``[a, b]`` in metres along them.

    Pair ``k`` is the line ``lines[line_of[k]]`` and the convex polygon ``ring + centres[k]``
    (``ring``: the closed ring's coordinates around the origin, e.g. a point's buffer). Every
    segment of the line is clipped against the polygon's edges (Cyrus–Beck): with the segment
    ``A + t (B − A)``, ``t ∈ [0, 1]``, and each edge's outward normal ``n`` and offset ``c``
    (inside: ``n · x ≤ c``), ``t`` is bounded above by ``(c − n·A) / n·(B − A)`` where the
    denominator is positive and below where it is negative. The part of the segment inside is
    ``[t_low, t_high]`` when ``t_high > t_low``, at ``start(segment) + t · |B − A|`` metres along the
    line. Vectorised over every (pair, segment) whose segment comes within the polygon's reach.
    The same stretches as ``shapely.intersection`` of the line with the polygon (to ~1e-9 m),
    without building the intersection geometries. Returns ``(line_of_interval, a, b)``; a
    stretch crossing segment ends comes as one interval per segment (merge them per line).
    """
    e = np.empty(0, np.int64)
    if len(line_of) == 0:
        return e, np.empty(0), np.empty(0)
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    seg = np.flatnonzero(owner[1:] == owner[:-1])            # segment s runs from coords[s] to coords[s + 1]
    A, D = coords[seg], coords[seg + 1] - coords[seg]
    seg_line = owner[seg]
    seg_len = np.hypot(D[:, 0], D[:, 1])
    first = np.searchsorted(seg_line, np.arange(len(lines)))  # each line's first segment (segments sorted by line)
    n_seg = np.bincount(seg_line, minlength=len(lines))
    cum = np.r_[0.0, np.cumsum(seg_len)[:-1]]                # cum[s] + seg_len[s] == cum[s + 1] exactly
    line_start = cum[np.minimum(first, len(seg) - 1)]
    # every (pair, segment of its line)
    line_of = np.asarray(line_of, dtype=np.int64)
    reps = n_seg[line_of]
    pair = np.repeat(np.arange(len(line_of)), reps)
    s = first[line_of][pair] + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))
    P = np.asarray(centres, float)[pair]
    a0 = A[s] - P                                             # segment start relative to the polygon's centre
    d = D[s]
    # only segments within the polygon's reach (the farthest vertex) can meet it
    reach = float(np.hypot(ring[:, 0], ring[:, 1]).max()) * (1 + 1e-9) + 1e-9
    dd = np.einsum("ij,ij->i", d, d)
    t_near = np.clip(np.divide(-np.einsum("ij,ij->i", a0, d), dd, out=np.zeros(len(dd)), where=dd > 0), 0.0, 1.0)
    near = np.hypot(*(a0 + t_near[:, None] * d).T) <= reach
    near &= seg_len[s] > 0
    pair, s, a0, d = pair[near], s[near], a0[near], d[near]
    # edges of the ring with outward normals (counter-clockwise ring: normal = (dy, −dx))
    V = ring[:-1] if np.allclose(ring[0], ring[-1]) else ring
    E = np.roll(V, -1, axis=0) - V
    ccw = (V[:, 0] * np.roll(V[:, 1], -1) - np.roll(V[:, 0], -1) * V[:, 1]).sum() > 0
    normal = np.c_[E[:, 1], -E[:, 0]] * (1.0 if ccw else -1.0)
    c = np.einsum("ij,ij->i", normal, V)
    num = c[None, :] - a0 @ normal.T                          # (rows, edges)
    den = d @ normal.T
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / den
    t_low = np.max(np.where(den < 0, t, 0.0), axis=1, initial=0.0)
    t_high = np.min(np.where(den > 0, t, 1.0), axis=1, initial=1.0)
    outside = ((den == 0) & (num < 0)).any(axis=1)
    keep = (t_high > t_low) & ~outside
    # along the whole chain first, so the end of one segment's stretch is the start of the next's to
    # the last bit (they merge into one interval), then from the line's own start
    s, line = s[keep], line_of[pair[keep]]
    a = cum[s] + t_low[keep] * seg_len[s]
    b = cum[s] + t_high[keep] * seg_len[s]
    a = np.where(t_low[keep] == 0.0, cum[s], a)
    b = np.where(t_high[keep] == 1.0, cum[s] + seg_len[s], b)
    return line, a - line_start[line], b - line_start[line]


def _discs(points: np.ndarray, radius: float, *, quad_segs: int) -> np.ndarray:
    """``shapely.buffer(points, radius, quad_segs=…)`` for many points, built by translating one buffer.

    The buffer of a point is the same polygon around every point; adding each point's coordinates
    to the template's gives the same coordinates GEOS computes (checked on the 10× county's
    39 000 lamps: identical bit for bit) in well under half the time.
    """
    if len(points) == 0:
        return np.empty(0, dtype=object)
    template = shapely.get_coordinates(shapely.buffer(shapely.Point(0.0, 0.0), radius, quad_segs=quad_segs))
    xy = shapely.get_coordinates(points)
    if len(xy) != len(points):       # not all single points: the general path
        return shapely.buffer(points, radius, quad_segs=quad_segs)
    return shapely.polygons(template[None, :, :] + xy[:, None, :])


def _clip_lines_cached(parts: np.ndarray, regions: Regions, cache: WorkspaceCache = NO_CACHE, *,
                       kind: str = "road_clip", key: str | None = None):
    """:func:`_clip_lines` from the workspace cache when the road parts and the region pieces are unchanged.

    Key: the parts' and pieces' geometries, the pieces' owners and the two border distances; the
    intervals are the same bit for bit (as the walking inputs and the lamp cover). The cache keeps
    one entry per ``kind``: the city and the zone pass each have their own.
    """
    if key is None:
        key = content_key(kind, parts, regions.pieces, np.asarray(regions.owner, np.int64), int(regions.n),
                          float(EDGE_TOLERANCE_M), float(BORDER_MIN_M))
    got = cache.get_or_compute(kind, key, lambda: dict(zip(("part", "region", "a", "b"), _clip_lines(parts, regions))))
    return got["part"], got["region"], got["a"], got["b"]


def _clip_lines(parts: np.ndarray, regions: Regions):
    """Road parts clipped to the regions: ``(part, region, a, b)`` intervals along the part.

    Roads often run exactly along a zone border, and intersecting a line with a polygon whose edge
    it follows is numerically fragile (the stretch may fall just outside both neighbours). So the
    stretches of road lying within ``EDGE_TOLERANCE_M`` of a region's edge for at least
    ``BORDER_MIN_M`` are added to the exact intersection: a road along a border counts in both
    zones, while a road crossing a border is cut exactly. Intervals of one part in one region are
    merged, so nothing counts twice within a region.
    """
    e = np.empty(0, np.int64)
    if len(parts) == 0 or len(regions.pieces) == 0:
        return e, e, np.empty(0), np.empty(0)
    il, ip = shapely.STRtree(regions.pieces).query(parts, predicate="intersects")
    shapely.prepare(regions.pieces)
    inside = shapely.contains(regions.pieces[ip], parts[il])   # most parts lie in one piece: no overlay
    inter = parts[il].copy()
    inter[~inside] = shapely.intersection(parts[il[~inside]], regions.pieces[ip[~inside]])
    pair, a, b = _net.line_intervals(parts[il], inter, np.arange(len(il)))
    part_i, reg = il[pair], regions.owner[ip[pair]]
    band = shapely.buffer(shapely.boundary(regions.pieces), EDGE_TOLERANCE_M, quad_segs=1)
    jl, jp = shapely.STRtree(band).query(parts, predicate="intersects")
    if len(jl):
        binter = shapely.intersection(parts[jl], band[jp])
        bpair, ba, bb = _net.line_intervals(parts[jl], binter, np.arange(len(jl)))
        along = (bb - ba) >= BORDER_MIN_M
        part_i = np.r_[part_i, jl[bpair[along]]]
        reg = np.r_[reg, regions.owner[jp[bpair[along]]]]
        a, b = np.r_[a, ba[along]], np.r_[b, bb[along]]
    if len(part_i) == 0:
        return e, e, np.empty(0), np.empty(0)
    key = part_i * regions.n + reg
    span = float(shapely.length(parts).max()) + 1.0
    key, a, b = _net.merge_intervals(key, a, b, span=span)
    return key // regions.n, key % regions.n, a, b


def lamp_coverage(roads: gpd.GeoDataFrame, lamps: gpd.GeoDataFrame, *, reach_m: float = 25.0,
                  snap_m: float = 40.0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Which stretch of which road its own lamps light (for maps and repair lists).

    Returns
    -------
    (road_parts, lamps): every single-part road line with ``length_m``, ``lit_m`` and ``lit_share``
    (0–1); the lamps with ``road_id`` of the road they belong to (NA beyond ``snap_m``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point
    >>> r = gpd.GeoDataFrame({"road_id": ["r"], "road_class": ["branch"]}, geometry=[LineString([(0, 0), (200, 0)])], crs=4527)
    >>> l = gpd.GeoDataFrame({"lamp_id": ["a"], "status": ["working"]}, geometry=[Point(100, 0)], crs=4527)
    >>> parts, lamps = lamp_coverage(r, l)
    >>> float(parts["lit_m"].iloc[0]), lamps["road_id"].tolist()
    (50.0, ['r'])
    """
    rp = _road_parts(roads)
    parts = np.asarray(rp.geometry.values, dtype=object)
    owner = assign_lamps(lamps, roads.geometry.values, snap_m=snap_m)
    cover = _road_cover(parts, rp["_road"].to_numpy(), lamps, owner, reach_m)
    length = shapely.length(parts)
    lit = cover.lit(np.arange(len(parts)), np.zeros(len(parts)), length)
    rp["length_m"] = length
    rp["lit_m"] = lit
    rp["lit_share"] = np.divide(lit, length, out=np.zeros(len(parts)), where=length > 0)
    out = lamps.copy()
    ids = roads["road_id"].astype(object).to_numpy() if "road_id" in roads else np.arange(len(roads)).astype(object)
    out["road_id"] = pd.array(np.where(owner >= 0, ids[np.clip(owner, 0, None)], None), dtype="string")
    return rp.drop(columns="_road"), out


def unlit_stretches(roads: gpd.GeoDataFrame, lamps: gpd.GeoDataFrame, *, reach_m: float = 25.0,
                    snap_m: float = 40.0, min_length_m: float = 1.0) -> gpd.GeoDataFrame:
    """The stretches of road no lamp of its own lights (暗段): the repair list behind 装灯率.

    Each lamp belongs to its nearest road within ``snap_m``; a road is lit within ``reach_m`` of its
    own lamps; what is left of each road, in stretches of at least ``min_length_m``, is returned.

    Returns
    -------
    GeoDataFrame with the road's attributes, ``from_m`` and ``to_m`` (metres along the road line),
    ``length_m`` and the stretch as a LineString, longest first.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point
    >>> r = gpd.GeoDataFrame({"road_id": ["r"]}, geometry=[LineString([(0, 0), (300, 0)])], crs=4527)
    >>> l = gpd.GeoDataFrame({"lamp_id": ["a", "b"]}, geometry=[Point(20, 0), Point(280, 0)], crs=4527)
    >>> unlit_stretches(r, l)[["road_id", "from_m", "to_m"]].values.tolist()
    [['r', 45.0, 255.0]]
    """
    from shapely.ops import substring

    rp = _road_parts(roads)
    parts = np.asarray(rp.geometry.values, dtype=object)
    cover = _road_cover(parts, rp["_road"].to_numpy(), lamps, assign_lamps(lamps, roads.geometry.values, snap_m=snap_m),
                        reach_m)
    rp = rp.drop(columns="_road")
    L = shapely.length(parts)
    key, a, b = cover.key, cover.a, cover.b
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.empty(0, bool)
    last = np.r_[key[1:] != key[:-1], True] if len(key) else np.empty(0, bool)
    none = np.setdiff1d(np.arange(len(parts)), key)
    k = np.r_[key, key[last], none].astype(np.int64)
    s0 = np.r_[np.where(first, 0.0, np.r_[0.0, b[:-1]]), b[last], np.zeros(len(none))]
    s1 = np.r_[a, L[key[last]], L[none]]
    keep = (s1 - s0) >= min_length_m
    k, s0, s1 = k[keep], np.maximum(s0[keep], 0.0), np.minimum(s1[keep], L[k[keep]])
    geoms = [substring(parts[i], x0, x1) for i, x0, x1 in zip(k, s0, s1)]   # only the dark stretches
    out = rp.drop(columns=rp.geometry.name).iloc[k].reset_index(drop=True)
    out["from_m"], out["to_m"], out["length_m"] = s0, s1, s1 - s0
    out = gpd.GeoDataFrame(out, geometry=geoms, crs=roads.crs)
    return out.sort_values("length_m", ascending=False, kind="stable").reset_index(drop=True)


def walk_samples(residential: gpd.GeoDataFrame, green: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, built_up=None, *,
                 tiers=PARK_TIERS, entry_tolerance_m: float = 20.0, cell_m: float = 20.0) -> gpd.GeoDataFrame:
    """Residential land sampled on a ``cell_m`` grid with the walk to the nearest qualifying park.

    Returns
    -------
    GeoDataFrame of points (cell centres, or centroids of cells cut by a block edge) with
    ``res_index`` (row position in ``residential``), ``area_m2`` (the cell's area inside the block),
    ``walk_m`` (walking distance to a park whose radius reaches it, ``inf`` otherwise) and
    ``covered``. ``Σ area_m2[covered] / Σ area_m2`` is ``park_walk_coverage`` when no blocks overlap
    (samples are per block here, so land under two overlapping blocks is sampled twice; the
    indicator samples the unioned land).
    """
    geoms = np.asarray(residential.geometry.values, dtype=object)
    pieces, owner = (intersect_pieces(geoms, chop(union(built_up))) if built_up is not None
                     else (geoms, np.arange(len(geoms))))
    pts, w, own = _sample_cells(pieces, owner, cell_m)
    parks = qualifying_parks(green, tiers=tiers)
    walk = np.full(len(pts), np.inf)
    if len(parks) and len(pts):
        net = _net.build_network(roads)
        snap = net.snap(pts, max_distance=float(parks["radius_m"].max()))
        for r in sorted(set(parks["radius_m"])):
            d = _net.walk_distance(net, parks[parks["radius_m"] == r], pts, limit=r,
                                   entry_tolerance_m=entry_tolerance_m, snap=snap)
            walk = np.minimum(walk, d)
    return gpd.GeoDataFrame({"res_index": own, "area_m2": w, "walk_m": walk, "covered": np.isfinite(walk)},
                            geometry=pts, crs=residential.crs)


# ============================================================================ canopy raster
def green_coverage_ratio(built_up, canopy) -> float:
    """建成区绿化覆盖率 (%) from a fractional vegetation-cover raster (values 0–1).

    ``Σ f_p · w_p / Σ w_p`` over valid pixels, ``w_p`` the exact share of pixel *p* inside the
    built-up area (pixels cut by the boundary are intersected geometrically; the others are fully
    in or out). Nodata pixels are left out of both sums. Returns NaN when no pixel is valid.

    Parameters
    ----------
    built_up : GeoDataFrame/GeoSeries/polygon in the raster's CRS (or with a CRS to transform from)
    canopy : a rasterio path (``ws.raster_uri("canopy")``) or an open dataset
    """
    return _canopy_cover(built_up, canopy)[0]


def _edge_pixel_shares(area, transform, shape, cache: WorkspaceCache = NO_CACHE):
    """``(rows, cols, share)`` of the pixels the area's boundary crosses: the share of each pixel inside the
    area (exact overlay of the pixel box with the chopped area). From the workspace cache when the area and
    the pixel grid are unchanged — the overlay is most of the canopy figure's time."""
    from rasterio import features

    def compute():
        edge = features.rasterize([area.boundary], out_shape=shape, transform=transform, all_touched=True,
                                  dtype="uint8").astype(bool)
        rows, cols = np.nonzero(edge)
        share = np.empty(0)
        if len(rows):
            t = transform
            x0, y0 = t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows
            x1, y1 = x0 + t.a + t.b, y0 + t.d + t.e
            boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
            pieces, owner = intersect_pieces(boxes, chop(area))
            share = area_by(owner, pieces, len(boxes)) / shapely.area(boxes)
        return {"rows": rows.astype(np.int64), "cols": cols.astype(np.int64), "share": share}

    key = content_key("canopy_edge", area, [float(v) for v in tuple(transform)[:6]], [int(v) for v in shape])
    got = cache.get_or_compute("canopy_edge", key, compute)
    return got["rows"], got["cols"], got["share"]


def _canopy_cover(built_up, canopy, cache: WorkspaceCache = NO_CACHE) -> tuple[float, float]:
    """(coverage %, share of the built-up area with valid pixels)."""
    import rasterio
    from rasterio import features, windows

    src = rasterio.open(canopy) if isinstance(canopy, (str, bytes)) or hasattr(canopy, "__fspath__") else canopy
    try:
        geom_crs = getattr(built_up, "crs", None)
        area = union(built_up)
        if geom_crs is not None and src.crs is not None and gpd.GeoSeries([area], crs=geom_crs).crs != src.crs:
            area = gpd.GeoSeries([area], crs=geom_crs).to_crs(src.crs).iloc[0]
        if area.is_empty:
            return math.nan, 0.0
        w0 = windows.from_bounds(*area.bounds, transform=src.transform)
        c0, r0 = math.floor(w0.col_off), math.floor(w0.row_off)
        c1, r1 = math.ceil(w0.col_off + w0.width), math.ceil(w0.row_off + w0.height)
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, src.width), min(r1, src.height)
        if c1 <= c0 or r1 <= r0:
            return math.nan, 0.0
        win = windows.Window(c0, r0, c1 - c0, r1 - r0)
        data = src.read(1, window=win, masked=True).astype(float)
        transform = src.window_transform(win)
        shape = data.shape
        inside = features.rasterize([area], out_shape=shape, transform=transform, all_touched=False, dtype="uint8")
        w = inside.astype(float)
        rows, cols, share = _edge_pixel_shares(area, transform, shape, cache)
        w[rows, cols] = share
        values = np.ma.filled(data, np.nan)
        valid = np.isfinite(values)
        if valid.any() and (np.nanmax(values) > 1.0 + 1e-6 or np.nanmin(values) < -1e-6):
            raise IndicatorError(f"栅格 canopy（植被覆盖）的值必须在 0–1 之间（像元覆盖度），实际范围 "
                                 f"{np.nanmin(values):g}–{np.nanmax(values):g}")
        wv = np.where(valid, w, 0.0)
        total = wv.sum()
        pixel_area = abs(transform.a * transform.e - transform.b * transform.d)
        covered_share = total * pixel_area / area.area
        if total == 0:
            return math.nan, 0.0
        return float(100.0 * np.sum(wv * np.nan_to_num(values)) / total), float(covered_share)
    finally:
        if src is not canopy:
            src.close()


# ============================================================================ the measures
def _pct(num, den) -> np.ndarray:
    num = np.asarray(num, float)
    den = np.asarray(den, float)
    return np.divide(100.0 * num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _bool(series, default=False) -> np.ndarray:
    s = pd.Series(series).astype("boolean")
    return s.fillna(default).to_numpy(bool)


def _road_classes() -> list[str]:

    return list(layer_spec("roads").fields["road_class"].values)


def _once(shared: dict | None, key: str, compute):
    """``compute()`` once per ``shared`` dict (the region-independent parts of :func:`measure`)."""
    if shared is None:
        return compute()
    if key not in shared:
        shared[key] = compute()
    return shared[key]


class _InputKeys:
    """The workspace-cache keys of one :func:`measure` call, each layer hashed once per table.

    A key is the SHA-256 of what the cached arrays are computed from (:func:`content_key`): the
    region pieces and their owners, and per layer its geometries and the attributes and parameters
    that matter (the green classes, the population, the park tiers, the toilet radius …). The layer
    hashes are kept in ``shared``, so the city and the zone pass hash each layer once.
    """

    def __init__(self, shared: dict | None, regions: Regions, *, green, residential, toilets, lamps, roads, p: dict):
        self.shared, self.p = shared, p
        self.region = content_key("regions", regions.pieces, np.asarray(regions.owner, np.int64), int(regions.n))
        self.green_cover = self.parks = self.residential = self.toilets = self.lamps = None
        if green is not None:
            self.green_cover = self.memo("green_cover", lambda: (green[_category_mask(green,
                                                                                    p["green_space_categories"])],))
            self.parks = self.memo("parks", lambda: (green[_category_mask(green, p["park_categories"])],
                                                     list(map(list, p["park_tiers"]))))
        if residential is not None:   # the population is checked here, before any cached figure is used
            self.residential = self.memo("residential", lambda: (residential, _population(residential)))
        if toilets is not None:
            self.toilets = self.memo("toilets", lambda: (toilets, float(p["toilet_radius_m"])))
        if lamps is not None:
            self.lamps = self.memo("lamps", lambda: (lamps,))
        self.roads = self.memo("roads", lambda: (roads,)) if roads is not None else None

    def memo(self, name: str, parts) -> str:
        return _once(self.shared, f"key_{name}", lambda: content_key(name, *parts()))

    def overlays(self, city: bool) -> str:
        return content_key("region_overlays", self.region, self.green_cover, self.parks, self.residential,
                           self.toilets, self.lamps, bool(city))

    def road_clip(self, kind: str, parts: np.ndarray) -> str:
        return content_key(kind, self.memo("road_parts", lambda: (parts,)), self.region, float(EDGE_TOLERANCE_M),
                           float(BORDER_MIN_M))

    def lamp_cover(self, parts: np.ndarray, part_road: np.ndarray) -> str:
        return content_key("lamp_cover", self.roads, self.memo("road_parts", lambda: (parts,)), part_road,
                           self.lamps, float(self.p["lamp_snap_m"]), float(self.p["lamp_reach_m"]))

    def walk_samples(self) -> str:
        # the residential pieces are a function of the regions and the residential layer: keyed on those
        return content_key("walk_samples", self.region, self.residential, float(self.p["walk_cell_m"]))

    def walk_network(self) -> str:
        return content_key("walk_network", self.roads, 0.01)


def _residential_pieces(regions: Regions, residential: gpd.GeoDataFrame, shared: dict | None, keys: _InputKeys):
    """``(residents per region, residential land pieces, their region)``, once per table and regions.

    Residents are apportioned by area: each block's population times the share of its area in the
    region. Land shares divide land by land, so the land pieces come from the blocks' union
    (overlapping blocks count once; residents stay per block).
    """
    return _once(shared, "res_pieces_" + keys.region, lambda: _residential_pieces_of(regions, residential, shared))


def _residential_pieces_of(regions: Regions, residential: gpd.GeoDataFrame, shared: dict | None):
    rg = np.asarray(residential.geometry.values, dtype=object)
    pop = _population(residential)
    full = shapely.area(rg)
    ia, ib = shapely.STRtree(rg).query(regions.pieces, predicate="intersects")
    parts, idx = shapely.get_parts(shapely.intersection(regions.pieces[ia], rg[ib]), return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    block = ib[idx[keep]]
    share = np.divide(shapely.area(parts[keep]), full[block], out=np.zeros(int(keep.sum())), where=full[block] > 0)
    residents = np.bincount(regions.owner[ia[idx[keep]]], weights=pop[block] * share, minlength=regions.n)
    res_pieces, res_owner = intersect_pieces(regions.pieces, _once(shared, "res_union", lambda: chop(union_pieces(rg))),
                                             regions.owner)
    return residents, res_pieces, res_owner


def _region_overlays(regions: Regions, *, green, residential, toilets, lamps, p: dict, city: bool,
                     shared: dict | None, cache: WorkspaceCache, keys: _InputKeys) -> dict[str, np.ndarray]:
    """What :func:`measure` takes from overlaying the layers with the regions, per region.

    ``green_area`` (green land, m²), ``residents`` and ``res_area`` (residential land, m²),
    ``served_area`` (residential land within a park's service radius, m²), ``park_area`` (city
    pass, m²), ``toilet_area`` (land within a toilet's radius, m²), and the (point, region) pairs
    ``lamp_i``/``lamp_reg`` and ``toilet_i``/``toilet_reg``; a key is present when its layers are.
    Plain arrays: the workspace cache keeps them (:meth:`_InputKeys.overlays`), so a warm run does
    no overlay at all.
    """
    n = regions.n
    out: dict[str, np.ndarray] = {}
    if green is not None:
        gmask = _category_mask(green, p["green_space_categories"])
        g_cover = _once(shared, "green_cover", lambda: cache.geometries(   # the green land, dissolved and chopped
            "green_cover", keys.green_cover, lambda: chop(union_pieces(green[gmask]))))
        out["green_area"] = area_by(*intersect_pieces(regions.pieces, g_cover, regions.owner)[::-1], n)
    if residential is not None:
        out["residents"], res_pieces, res_owner = _residential_pieces(regions, residential, shared, keys)
        out["res_area"] = area_by(res_owner, res_pieces, n)
    if green is not None and residential is not None:
        parks = _once(shared, "parks", lambda: qualifying_parks(green, tiers=p["park_tiers"],
                                                                categories=p["park_categories"]))
        service = _once(shared, "park_service", lambda: chop(union_pieces(shapely.buffer(
            np.asarray(parks.geometry.values, dtype=object), parks["radius_m"].to_numpy(float), quad_segs=16))))
        out["served_area"] = area_by(*intersect_pieces(res_pieces, service, res_owner)[::-1], n)
    if city and green is not None:
        pk = chop(union_pieces(green[_category_mask(green, p["park_categories"])]))
        out["park_area"] = area_by(*intersect_pieces(regions.pieces, pk, regions.owner)[::-1], n)
    if lamps is not None:
        out["lamp_i"], out["lamp_reg"] = regions.points_in(np.asarray(lamps.geometry.values, dtype=object))
    if toilets is not None:
        tg = np.asarray(toilets.geometry.values, dtype=object)
        out["toilet_i"], out["toilet_reg"] = regions.points_in(tg)
        served = _once(shared, "toilet_service", lambda: chop(union_pieces(shapely.buffer(tg, p["toilet_radius_m"],
                                                                                          quad_segs=32)))
                       if len(tg) else np.empty(0, object))
        out["toilet_area"] = area_by(*intersect_pieces(regions.pieces, served, regions.owner)[::-1], n)
    return out


def _walk_inputs(res_pieces, roads: gpd.GeoDataFrame, *, cell_m: float, max_distance: float,
                 cache: WorkspaceCache, keys: _InputKeys):
    """Samples of the residential land (their area and owner), the street network and the samples' joins to it:
    ``(area, owner, network, snap)``; the samples are kept as coordinates (points are built only to snap them).

    ``res_pieces``: a function giving the residential pieces and their regions, called only when the
    samples are not cached. Each of the three comes from the workspace cache when its inputs are
    unchanged (keys: the regions, the residential layer and ``cell_m``; the road geometries; both
    keys and ``max_distance``), else it is computed and stored. Cached or not, the arrays are the
    same bit for bit.
    """
    def samples():
        pts, area, owner = _sample_cells(*res_pieces(), cell_m)
        return {"xy": shapely.get_coordinates(pts).reshape(-1, 2), "area": area, "owner": np.asarray(owner, np.int64)}

    def snapped():   # the samples as points again: the same coordinates, so the same snap
        snap = net.snap(shapely.points(got["xy"]), max_distance=max_distance)
        return {"n_points": np.int64(snap.n_points), "point": snap.point, "edge": snap.edge, "s": snap.s,
                "offset": snap.offset}

    skey, nkey = keys.walk_samples(), keys.walk_network()
    got = cache.get_or_compute("walk_samples", skey, samples)
    net = _net.network_from_arrays(cache.get_or_compute(
        "walk_network", nkey, lambda: _net.network_to_arrays(_net.build_network(roads))), crs=roads.crs)
    js = cache.get_or_compute("walk_snap", content_key("walk_snap", skey, nkey, float(max_distance)), snapped)
    snap = _net.Snap(int(js["n_points"]), js["point"], js["edge"], js["s"], js["offset"])
    w, owner = got["area"], got["owner"]
    return w, owner, net, snap


def measure(regions: Regions, *, green=None, roads=None, lamps=None, toilets=None, residential=None,
            params: dict | None = None, city: bool = True, notes: dict | None = None, shared: dict | None = None,
            cache: WorkspaceCache = NO_CACHE) -> list[dict]:
    """All region measures as rows ``dict(indicator, region, road_class, value, note)``.

    ``shared``: a dict kept across the calls of one table (city pass, zone pass): what does not
    depend on the regions (the green and residential unions, the park service area, the lamp
    assignment and lit stretches, the toilet service area) is computed once and reused — the
    same arrays, so the same numbers as computing them again. The calls must share the layers
    and ``params`` (each layer's cache key is hashed once in it, :class:`_InputKeys`). ``cache``: the
    workspace cache, which keeps the region overlays (:func:`_region_overlays`), the walking network
    and its samples (:func:`_walk_inputs`), the lamps' lit stretches and the roads clipped to the
    regions, each under a key of its inputs.
    """
    p = {**_DEFAULT.to_dict(), **(params or {})}
    notes = notes if notes is not None else {}
    rows: list[dict] = []
    n = regions.n

    def add(ind, values, road_class=None, note=""):
        for r in range(n):
            v = values[r] if np.ndim(values) else values
            rows.append(dict(indicator=ind, region=r, road_class=road_class,
                             value=float(v) if v is not None else math.nan, note=note))

    area = regions.area()
    add("area", area)

    keys = _InputKeys(shared, regions, green=green, residential=residential, toilets=toilets, lamps=lamps,
                      roads=roads, p=p)
    over = cache.get_or_compute("region_overlays_" + ("city" if city else "zones"), keys.overlays(city),
                                lambda: _region_overlays(regions, green=green, residential=residential,
                                                         toilets=toilets, lamps=lamps, p=p, city=city,
                                                         shared=shared, cache=cache, keys=keys))

    # --- green land
    if green is not None:
        add("green_space_ratio", _pct(over["green_area"], area))
    else:
        add("green_space_ratio", np.full(n, np.nan), note=notes.get("green", ""))

    # --- residents (area-apportioned) and residential land
    residents = over["residents"] if residential is not None else np.full(n, np.nan)
    res_area = over["res_area"] if residential is not None else np.zeros(n)

    # --- park service (radius) and walk
    if green is not None and residential is not None:
        add("park_service_coverage", _pct(over["served_area"], res_area))
        if city:
            parks = _once(shared, "parks", lambda: qualifying_parks(green, tiers=p["park_tiers"],
                                                                    categories=p["park_categories"]))
            if roads is not None and len(parks):
                w, owner, net, snap = _walk_inputs(
                    lambda: _residential_pieces(regions, residential, shared, keys)[1:], roads, cell_m=p["walk_cell_m"],
                    max_distance=float(parks["radius_m"].max()), cache=cache, keys=keys)
                covered = np.zeros(snap.n_points, dtype=bool)
                for r in sorted(set(parks["radius_m"])):
                    d = _net.walk_distance(net, parks[parks["radius_m"] == r], None, limit=r,
                                           entry_tolerance_m=p["park_entry_tolerance_m"], snap=snap)
                    covered |= d <= r
                add("park_walk_coverage", _pct(np.bincount(owner[covered], weights=w[covered], minlength=n),
                                               np.bincount(owner, weights=w, minlength=n)))
            else:
                # no qualifying park: nothing is reached (NaN where there is no residential land)
                add("park_walk_coverage", _pct(np.zeros(n), res_area) if roads is not None else np.full(n, np.nan),
                    note="" if roads is not None else notes.get("roads", ""))
    else:
        add("park_service_coverage", np.full(n, np.nan), note=notes.get("residential") or notes.get("green", ""))
        if city:
            add("park_walk_coverage", np.full(n, np.nan), note=notes.get("residential") or notes.get("green", ""))

    if city:
        population = p.get("population")
        pop_note = "人口取自目标文件" if population else "人口为建成区内居住用地人口之和"
        pop_value = np.full(n, float(population)) if population else residents
        if green is not None and (population or residential is not None):
            add("park_area_per_capita", np.divide(over["park_area"], pop_value, out=np.full(n, np.nan),
                                                  where=pop_value > 0), note=pop_note)
        else:
            add("park_area_per_capita", np.full(n, np.nan), note=notes.get("green") or notes.get("residential", ""))

    # --- roads, lamps
    classes = _road_classes()
    if roads is not None:
        rp = _once(shared, "road_parts", lambda: _road_parts(roads))
        parts = np.asarray(rp.geometry.values, dtype=object)
        part_class = rp["road_class"].astype(object).to_numpy() if "road_class" in rp else np.full(len(rp), None)
        clip_kind = "road_clip_city" if city else "road_clip_zones"   # one cache entry each
        part_i, reg, a, b = _clip_lines_cached(parts, regions, cache, kind=clip_kind,
                                               key=keys.road_clip(clip_kind, parts))
        seg_len = b - a
        lamp_owner, cover = (_once(shared, "lamp_cover", lambda: _lamp_cover(
            parts, rp["_road"].to_numpy(), roads, lamps, snap_m=p["lamp_snap_m"], reach_m=p["lamp_reach_m"],
            cache=cache, key=keys.lamp_cover(parts, rp["_road"].to_numpy()))) if lamps is not None else (None, None))
        road_class = roads["road_class"].astype(object).to_numpy() if "road_class" in roads else np.full(len(roads), None)
        seg_cls = part_class[part_i]
        road_len = np.bincount(reg, weights=seg_len, minlength=n)
        add("road_length", road_len)
        if cover is not None:
            lit = cover.lit(part_i, a, b)
            add("lamp_installation_rate", _pct(np.bincount(reg, weights=lit, minlength=n), road_len))
            for c in classes:
                m = seg_cls == c
                if m.any():
                    add("lamp_installation_rate", _pct(np.bincount(reg[m], weights=lit[m], minlength=n),
                                                       np.bincount(reg[m], weights=seg_len[m], minlength=n)), c)
        else:
            add("lamp_installation_rate", np.full(n, np.nan), note=notes.get("lamps", ""))
        # mechanical sweeping: roads with no width or no mech_swept record are left out, never read as 0
        if "mech_swept" not in rp:
            add("mech_sweeping_rate", np.full(n, np.nan),
                note="无数据：道路图层没有 mech_swept（机械化清扫）字段，无法计算；请导入各道路是否机扫")
        else:
            width = (pd.to_numeric(rp["width_m"], errors="coerce").to_numpy(float) if "width_m" in rp
                     else np.full(len(rp), np.nan))
            swept_rec = rp["mech_swept"].astype("boolean")
            has_width, known = np.isfinite(width)[part_i], swept_rec.notna().to_numpy(bool)[part_i]
            swept = swept_rec.fillna(False).to_numpy(bool)[part_i]
            ok = has_width & known
            w = np.where(ok, width[part_i], 0.0)
            rate = _pct(np.bincount(reg, weights=seg_len * w * swept, minlength=n),
                        np.bincount(reg, weights=seg_len * w, minlength=n))
            road_of = rp["_road"].to_numpy()[part_i]
            gaps = [f"{len(np.unique(road_of[m]))} 条道路{what}" for m, what in
                    ((~has_width, "缺少路宽(width_m)"), (has_width & ~known, "未记录是否机扫(mech_swept)")) if m.any()]
            note = ("、".join(gaps) + "，未计入") if gaps else ""
            if gaps and np.isnan(rate).all():
                note = "无数据：" + note.removesuffix("，未计入") + "，无法计算"
            add("mech_sweeping_rate", rate, note=note)
    else:
        add("road_length", np.full(n, np.nan), note=notes.get("roads", ""))
        add("lamp_installation_rate", np.full(n, np.nan), note=notes.get("roads", ""))
        add("mech_sweeping_rate", np.full(n, np.nan), note=notes.get("roads", ""))
        lamp_owner = None
        road_class = np.empty(0, dtype=object)

    if lamps is not None:
        li, lreg = over["lamp_i"], over["lamp_reg"]
        states = lamp_states(lamps)   # "unknown" or empty: not patrolled, not counted
        known, working, broken = states.known[li], states.working[li], states.broken[li]
        add("lamp_count", np.bincount(lreg, minlength=n))
        n_known, n_lamps = np.bincount(lreg[known], minlength=n), np.bincount(lreg, minlength=n)
        add("broken_lamp_count", np.where((n_known > 0) | (n_lamps == 0),
                                          np.bincount(lreg[broken], minlength=n), np.nan))
        unknown = len(np.unique(li[~known]))
        rate = _pct(np.bincount(lreg[working], minlength=n), np.bincount(lreg[known], minlength=n))
        lnote = f"{unknown} 盏路灯状态未知（无巡查记录），未计入" if unknown else ""
        if unknown and np.isnan(rate).all():
            lnote = f"无数据：{unknown} 盏路灯均无巡查状态（status 为 unknown），无法计算亮灯率"
        add("lamp_lighting_rate", rate, note=lnote)
        if lamp_owner is not None and len(road_class):
            lcls = np.where(lamp_owner[li] >= 0, road_class[np.clip(lamp_owner[li], 0, None)], None)
            for c in classes:
                m = (lcls == c) & known
                if m.any():
                    add("lamp_lighting_rate", _pct(np.bincount(lreg[m & working], minlength=n),
                                                   np.bincount(lreg[m], minlength=n)), c)
    else:
        for ind in ("lamp_count", "broken_lamp_count", "lamp_lighting_rate"):
            add(ind, np.full(n, np.nan), note=notes.get("lamps", ""))

    # --- toilets
    if toilets is not None:
        ti, treg = over["toilet_i"], over["toilet_reg"]
        count = np.bincount(treg, minlength=n).astype(float)
        add("toilet_count", count)
        add("toilet_service_coverage", _pct(over["toilet_area"], area))
        if city:
            add("toilet_density", np.divide(count, area / 1e6, out=np.full(n, np.nan), where=area > 0))
            pop_value = np.full(n, float(p["population"])) if p.get("population") else residents
            add("toilets_per_10k", np.divide(count * 1e4, pop_value, out=np.full(n, np.nan), where=pop_value > 0))
            acc = toilets["accessible"].astype("boolean").to_numpy(dtype=object, na_value=None)[ti] \
                if "accessible" in toilets else np.full(len(ti), None)
            known = np.array([v is not None for v in acc], dtype=bool)
            yes = np.array([v is True for v in acc], dtype=bool)
            unknown = int((~known).sum())
            add("accessible_toilet_share", _pct(np.bincount(treg[yes], minlength=n), np.bincount(treg[known], minlength=n)),
                note=f"{unknown} 座公厕无障碍情况未知，未计入" if unknown else "")
    else:
        inds = ["toilet_count", "toilet_service_coverage"] + (
            ["toilet_density", "toilets_per_10k", "accessible_toilet_share"] if city else [])
        for ind in inds:
            add(ind, np.full(n, np.nan), note=notes.get("toilets", ""))

    add("residents", residents, note="" if residential is not None else notes.get("residential", ""))
    return rows


# ============================================================================ the table
ORDER = ["green_space_ratio", "green_coverage_ratio", "park_area_per_capita", "park_service_coverage",
         "park_walk_coverage", "lamp_installation_rate", "lamp_lighting_rate", "toilet_density", "toilets_per_10k",
         "toilet_service_coverage", "accessible_toilet_share", "mech_sweeping_rate", "area", "road_length",
         "lamp_count", "broken_lamp_count", "toilet_count", "residents"]


def _missing_note(layer: str) -> str:

    return f"缺少图层 {layer}（{layer_spec(layer).title_zh}），无法计算"


def indicator_table(built_up: gpd.GeoDataFrame, *, green=None, roads=None, lamps=None, toilets=None,
                    residential=None, canopy=None, zones=None, targets: Targets | None = None,
                    cache: WorkspaceCache = NO_CACHE, **params) -> pd.DataFrame:
    """The tidy indicator table from layers (pure function; see :func:`compute_indicators`).

    Parameters
    ----------
    built_up : GeoDataFrame, the built-up boundary (required)
    green, roads, lamps, toilets, residential, zones : GeoDataFrame or None (missing layers give
        NaN rows with a note saying which layer to import)
    canopy : rasterio path or dataset of the fractional vegetation cover, or None
    targets : Targets (default: :func:`civgis.store.targets.load_targets`)
    cache : :class:`~civgis.store.cache.WorkspaceCache`, optional
        Where the walking network and its sample grid are kept between runs (keyed on their
        inputs; :func:`compute_indicators` passes the workspace's). Default: none.
    **params : override any field of :class:`~civgis.store.targets.Parameters` (``lamp_reach_m``,
        ``lamp_snap_m``, ``toilet_radius_m``, ``park_tiers``, ``park_entry_tolerance_m``,
        ``walk_cell_m``, ``green_space_categories``, ``park_categories``, ``population``); the rest
        come from ``targets.params``

    Returns
    -------
    DataFrame with :data:`COLUMNS`, one row per indicator × scope × zone × road class.
    """
    targets = targets if targets is not None else load_targets()
    unknown = set(params) - set(PARAMETER_NAMES)
    if unknown:
        raise TypeError(f"unknown indicator parameters: {sorted(unknown)}")
    p = targets.params.to_dict()
    p.update({k: v for k, v in params.items() if v is not None})
    layers = dict(green=green, roads=roads, lamps=lamps, toilets=toilets, residential=residential)
    notes = {k: _missing_note(k) for k, v in layers.items() if v is None}
    _check_crs(built_up, layers | {"zones": zones})

    frames = []
    city = city_region(built_up)
    shared: dict = {}          # computed once for the city and the zone pass
    rows = measure(city, **layers, params=p, city=True, notes=notes, shared=shared, cache=cache)
    if canopy is not None:
        value, share = _canopy_cover(built_up, canopy, cache)
        note = "" if share >= 0.999 else f"栅格仅覆盖建成区的 {100 * share:.1f}%，按覆盖部分计算"
        rows.append(dict(indicator="green_coverage_ratio", region=0, road_class=None, value=value, note=note))
    else:
        rows.append(dict(indicator="green_coverage_ratio", region=0, road_class=None, value=math.nan,
                         note="缺少植被覆盖栅格 canopy，无法计算（不做估算）"))
    frames.append(_frame(rows, city, "city"))
    if zones is not None:
        zr = zone_regions(zones, built_up)
        frames.append(_frame(measure(zr, **layers, params=p, city=False, notes=notes, shared=shared, cache=cache), zr,
                             "zone"))
    table = pd.concat(frames, ignore_index=True)
    return _judge(table, targets)


def _check_crs(built_up, layers: dict) -> None:
    crs = built_up.crs
    for name, gdf in layers.items():
        if gdf is not None and gdf.crs is not None and crs is not None and gdf.crs != crs:
            raise IndicatorError(f"图层 {name} 的坐标系 ({gdf.crs.name}) 与 built_up ({crs.name}) 不一致; "
                                 f"reproject first (ws.read gives every layer in the workspace CRS)")
    if crs is not None and not crs.is_projected:
        raise IndicatorError(f"图层 built_up 的坐标系 {crs.name} 不是投影坐标系（米）; areas need metres")


def _frame(rows: list[dict], regions: Regions, scope: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["indicator", "region", "road_class", "value", "note"])
    # a road class a zone does not have gives no row
    df = df[~(df["road_class"].notna() & df["value"].isna())]
    df["scope"] = scope
    ids = np.asarray(regions.ids, dtype=object)
    names = np.asarray(regions.names, dtype=object)
    df["zone_id"] = ids[df["region"]] if scope == "zone" else None
    df["zone_name"] = names[df["region"]] if scope == "zone" else None
    rank = {k: i for i, k in enumerate(ORDER)}
    classes = {c: i + 1 for i, c in enumerate(_road_classes())}
    df["_o"] = df["indicator"].map(rank)
    df["_c"] = df["road_class"].map(classes).fillna(0)
    df = df.sort_values(["region", "_o", "_c"], kind="stable")
    return df.drop(columns=["region", "_o", "_c"])


def _judge(table: pd.DataFrame, targets: Targets) -> pd.DataFrame:
    names = {k: v[0] for k, v in INDICATORS.items()}
    units = {k: v[1] for k, v in INDICATORS.items()}

    class_zh = layer_spec("roads").fields["road_class"].values
    out = table.copy()
    out["name_zh"] = [names[i] + (f"（{class_zh.get(c, c)}）" if isinstance(c, str) else "")
                      for i, c in zip(out["indicator"], out["road_class"])]
    out["unit"] = out["indicator"].map(units)
    tgt = [targets.get(i) for i in out["indicator"]]
    cls = [c if isinstance(c, str) else None for c in out["road_class"]]
    out["target"] = np.array([t.threshold(c) if t.threshold(c) is not None else np.nan for t, c in zip(tgt, cls)],
                             dtype=float)
    out["comparison"] = [t.comparison if t.threshold(c) is not None else None for t, c in zip(tgt, cls)]
    out["passed"] = pd.array([t.passes(v, c) for t, v, c in zip(tgt, out["value"], cls)], dtype="boolean")
    out["responsible_unit"] = [t.responsible_unit for t in tgt]
    out["standard"] = [t.standard for t in tgt]
    out["road_class"] = out["road_class"].astype(object).where(out["road_class"].notna(), None)
    return out[COLUMNS].reset_index(drop=True)


def compute_indicators(ws, *, zones: bool = False, targets=None, **params) -> pd.DataFrame:
    """All indicators of a workspace as a tidy table, judged against the targets.

    Parameters
    ----------
    ws : civgis.Workspace
    zones : bool
        Also compute the per-zone rows (``scope == "zone"``), which need the ``zones`` layer.
    targets : Targets, path or None
        None → ``load_targets(ws=ws)`` (the default file with the workspace's own file merged over).
    **params : computation parameters overriding the targets file (see :func:`indicator_table`).

    Returns
    -------
    pandas.DataFrame with columns ``indicator, name_zh, scope, zone_id, zone_name, road_class,
    value, unit, target, comparison, passed, responsible_unit, standard, note``; ``passed`` is a
    nullable boolean (NA when there is no target or no value).
    """
    if not isinstance(targets, Targets):
        targets = load_targets(targets, ws=ws)
    layers = {name: ws.read_optional(name) for name in ("green", "roads", "lamps", "toilets", "residential")}
    zones_gdf = None
    if zones:
        zones_gdf = ws.read("zones")
    return indicator_table(ws.read("built_up"), **layers, canopy=ws.raster_uri("canopy"), zones=zones_gdf,
                           targets=targets, cache=workspace_cache(ws), **params)


# ============================================================================ one function per indicator
def _single(built_up, **layers):
    return measure(city_region(built_up), **{k: v for k, v in layers.items() if k != "params"},
                   params=layers.get("params"), city=True)


def _pick(rows, indicator, road_class=None) -> float:
    for r in rows:
        if r["indicator"] == indicator and r["road_class"] == road_class:
            return r["value"]
    return math.nan


def _by_class(rows, indicator) -> pd.Series:
    vals = {("all" if r["road_class"] is None else r["road_class"]): r["value"]
            for r in rows if r["indicator"] == indicator}
    return pd.Series(vals, name=indicator, dtype=float)


def green_space_ratio(green, built_up, *, categories=GREEN_SPACE_CATEGORIES) -> float:
    """建成区绿地率 (%): ``|∪ green(categories) ∩ B| / |B|``; overlaps counted once."""
    area = union(built_up)
    cover = chop(union(green[_category_mask(green, categories)]))
    pieces, owner = intersect_pieces(chop(area), cover)
    return float(100.0 * shapely.area(pieces).sum() / area.area) if area.area else math.nan


def park_area_per_capita(green, built_up, *, population=None, residential=None) -> float:
    """人均公园绿地面积 (m²/人): ``|∪G1 ∩ B| / P`` (``P`` given, else residents inside ``B``)."""
    rows = _single(built_up, green=green, residential=residential, params={"population": population})
    return _pick(rows, "park_area_per_capita")


def green_land_indicators(green, built_up, *, residential=None, population=None,
                          tiers=PARK_TIERS) -> dict[str, float]:
    """建成区绿地率 (%), 人均公园绿地面积 (m²/人) and 公园绿地服务半径覆盖率 (%) of the city from one measure.

    The three a greening what-if compares before and after its sites: the rows :func:`measure`
    gives the indicator table for the city (so "before" is the table's value to the last digit),
    measured once instead of once per indicator. ``population`` as in
    :func:`park_area_per_capita`, ``tiers`` as in :func:`park_service_coverage`.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> built = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs=4527)
    >>> green = gpd.GeoDataFrame({"category": ["G1"]}, geometry=[box(0, 0, 100, 100)], crs=4527)
    >>> homes = gpd.GeoDataFrame({"population": [2500]}, geometry=[box(0, 0, 1000, 1000)], crs=4527)
    >>> out = green_land_indicators(green, built, residential=homes)
    >>> round(out["green_space_ratio"], 6), round(out["park_area_per_capita"], 6)
    (1.0, 4.0)
    """
    rows = _single(built_up, green=green, residential=residential,
                   params={"population": population, "park_tiers": tiers})
    return {ind: _pick(rows, ind) for ind in ("green_space_ratio", "park_area_per_capita", "park_service_coverage")}


def park_service_coverage(residential, green, built_up, *, tiers=PARK_TIERS) -> float:
    """公园绿地服务半径覆盖率 (%): residential land within a qualifying park's radius ÷ residential land."""
    return _pick(_single(built_up, green=green, residential=residential, params={"park_tiers": tiers}),
                 "park_service_coverage")


def park_walk_coverage(residential, green, roads, built_up, *, tiers=PARK_TIERS, entry_tolerance_m=20.0,
                       cell_m=20.0) -> float:
    """公园绿地步行可达覆盖率 (%): as the service coverage, by walking distance on ``roads``."""
    rows = _single(built_up, green=green, residential=residential, roads=roads,
                   params={"park_tiers": tiers, "park_entry_tolerance_m": entry_tolerance_m, "walk_cell_m": cell_m})
    return _pick(rows, "park_walk_coverage")


def lamp_installation_rate(roads, lamps, built_up, *, reach_m=25.0, snap_m=40.0) -> pd.Series:
    """装灯率 (%) per road class and ``"all"``: lit length within ``reach_m`` of own lamps ÷ length."""
    return _by_class(_single(built_up, roads=roads, lamps=lamps,
                             params={"lamp_reach_m": reach_m, "lamp_snap_m": snap_m}), "lamp_installation_rate")


def lamp_lighting_rate(lamps, built_up, *, roads=None, snap_m=40.0) -> pd.Series:
    """亮灯率 (%) per road class (of each lamp's nearest road) and ``"all"``: working ÷ lamps."""
    return _by_class(_single(built_up, roads=roads, lamps=lamps, params={"lamp_snap_m": snap_m}),
                     "lamp_lighting_rate")


def toilet_density(toilets, built_up) -> float:
    """公厕密度 (座/km²): toilets inside ``B`` ÷ ``|B|`` km²."""
    return _pick(_single(built_up, toilets=toilets), "toilet_density")


def toilets_per_10k(toilets, built_up, *, population=None, residential=None) -> float:
    """每万人公厕数: toilets inside ``B`` × 10 000 ÷ ``P``."""
    return _pick(_single(built_up, toilets=toilets, residential=residential, params={"population": population}),
                 "toilets_per_10k")


def toilet_service_coverage(toilets, built_up, *, radius_m=300.0) -> float:
    """公厕服务半径覆盖率 (%): ``|B ∩ ∪ buffer(toilet, radius_m)| / |B|``."""
    return _pick(_single(built_up, toilets=toilets, params={"toilet_radius_m": radius_m}), "toilet_service_coverage")


def accessible_toilet_share(toilets, built_up) -> float:
    """无障碍公厕比例 (%): accessible ÷ toilets with known accessibility, inside ``B``."""
    return _pick(_single(built_up, toilets=toilets), "accessible_toilet_share")


def mech_sweeping_rate(roads, built_up) -> float:
    """道路机械化清扫率 (%): ``Σ len·width (swept) / Σ len·width`` inside ``B``."""
    return _pick(_single(built_up, roads=roads), "mech_sweeping_rate")
