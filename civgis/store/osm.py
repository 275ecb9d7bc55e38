"""OpenStreetMap import: try civgis on any town from an ``.osm.pbf`` extract.

:func:`read_osm` reads an extract with GDAL's OSM driver (through pyogrio, with civgis's own
``osmconf.ini`` so the tags it needs — ``name:zh``, ``wheelchair``, ``width`` … — arrive as
columns) and maps OSM features to catalogue layers. :func:`import_osm` then writes each layer
through the ordinary importer (:func:`civgis.store.importers.import_frame`: conform, validate, reproject,
atomic write). Both return an :class:`OsmImport` whose ``report`` says what was mapped to what
and what was skipped, so nobody has to guess.

Mapping rules (each one is a row family of the report)
-------------------------------------------------------
roads (ways with ``highway=*``, the ``lines`` layer)
    ===================================================  ==============================
    ``highway=`` value                                   ``road_class``
    ===================================================  ==============================
    trunk, trunk_link, primary, primary_link             arterial 主干道
    secondary(_link), tertiary(_link)                    secondary 次干道
    residential, unclassified, living_street, road       branch 支路
    pedestrian; or any road above whose way carries a    commercial 商业街
    ``shop=*`` tag or whose name ends in 步行街/商业街/
    美食街 (a shopping street)
    service (not ``service=parking_aisle``/
    ``driveway``), footway (not ``footway=sidewalk``/
    ``crossing``)                                        alley 背街小巷
    motorway(_link)                                      skipped: expressways are not
                                                         swept or lit by the bureau
    path, track, cycleway, steps, sidewalks, parking     skipped: not a street the
    aisles, driveways, construction, proposed, …         bureau keeps
    ===================================================  ==============================

    The importer does not know where the town ends: service ways and footways outside the
    built-up area are imported too, and every indicator clips to ``built_up``.
    ``width_m`` comes from the ``width`` tag when it reads as metres within the catalogue's
    0.5–150 m; it is never estimated (lanes × 3.5 m would be a guess). ``mech_swept`` is left
    empty: OSM does not know who sweeps.
green (closed ways and multipolygon relations, the ``multipolygons`` layer)
    ``leisure=park`` → G1 公园绿地, its ``subcategory`` by area (CJJ/T 85-2017 sizes, which are
    parameters): ≥ 10 ha G11 综合公园, ≥ 1 ha G12 社区公园, smaller G14 游园;
    ``leisure=garden`` → G1 / G14 游园 (``garden:type=botanical`` → G13 专类公园; a private
    garden, ``access=private/no`` or ``garden:type=residential/private``, → XG 附属绿地);
    ``place=square`` → G3 广场用地; ``landuse=forest`` and ``natural=wood`` → G2 防护绿地 (a wood
    inside a town is most often a protective belt; outside it belongs to EG, which the
    built-up clip removes anyway); ``landuse=grass/village_green/recreation_ground`` → XG 附属绿地.
    A polygon lying ≥ 95 % inside a higher-ranked green polygon (G1 > G3 > G2 > XG; e.g. the
    lawns mapped inside a park) is dropped so the park is not counted twice.
    Parks mapped only as a node have no area and are skipped. Invalid polygons (real multipolygon
    relations often have self-touching or overlapping rings) are repaired with ``make_valid``,
    keeping their polygonal parts, and counted per tag in the report (``layer == "repaired"``,
    已修复); one with no area left, or that GDAL could not build, is skipped and counted.
lamps
    nodes with ``highway=street_lamp``; ``status`` = unknown (OSM has no patrol status, so 亮灯率 is 无数据
    until the bureau's patrol records are imported).
toilets
    ``amenity=toilets`` nodes, and the representative point of toilet buildings/areas without a
    toilet node inside; ``access=private/no/customers`` are skipped (not public toilets).
    ``accessible`` is True for ``wheelchair=yes`` or ``toilets:wheelchair=yes``, False for
    ``no``/``limited``, empty when untagged.
residential — *not imported*
    ``landuse=residential`` has no population, which the layer requires; inventing one would make
    every per-capita figure fiction. The report counts these polygons so the user knows to import
    residential land with population from the bureau's own data.

Names come from ``name:zh-Hans``, else ``name:zh``, else ``name``. Ids are the OSM ids with a type
prefix: ``n456`` (node), ``w123`` (way), ``r789`` (relation).

Examples
--------
The whole file: ``read_osm("town.osm.pbf")`` or ``import_osm("county.gpkg", "town.osm.pbf")``.
The mapping itself is a pure function of GDAL's layers:

>>> import geopandas as gpd
>>> from shapely.geometry import LineString
>>> lines = gpd.GeoDataFrame({"osm_id": ["1", "2", "3"], "highway": ["primary", "pedestrian", "motorway"],
...                           "name": ["人民路", "步行街", None]},
...                          geometry=[LineString([(117, 31), (117.001, 31)])] * 3, crs=4326)
>>> roads, report = map_roads(lines)
>>> roads[["road_id", "road_class"]].values.tolist()
[['w1', 'arterial'], ['w2', 'commercial']]
>>> report[["osm_tag", "layer", "count"]].values.tolist()
[['highway=pedestrian', 'roads', 1], ['highway=primary', 'roads', 1], ['highway=motorway', 'skipped', 1]]
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from civgis.store.catalogue import layer_spec
from civgis.store.crs import choose_crs_for
from civgis.store.importers import EXTENT_MARGIN_M, import_frame
from civgis.store.workspace import Workspace, WorkspaceError

__all__ = ["check_osm_file", "OSM_LAYERS", "SKIPPED", "REPAIRED", "HIGHWAY_CLASS", "HIGHWAY_SKIP_REASON", "DEFAULT_SKIP_REASON",
           "ALLEY_EXCLUDED", "SHOPPING_STREET_SUFFIXES", "GREEN_RANK", "PRIVATE_ACCESS",
           "NON_PUBLIC_TOILET_ACCESS", "OSMCONF", "REPORT_COLUMNS", "OsmImport", "read_osm", "parse_width",
           "map_roads", "map_green", "map_lamps", "map_toilets", "import_osm", "check_pbf", "report_zh"]

#: layers :func:`read_osm` can fill
OSM_LAYERS = ("roads", "green", "lamps", "toilets")

SKIPPED = "skipped"
#: report layer of features kept after a repair (e.g. an invalid multipolygon through ``make_valid``)
REPAIRED = "repaired"

#: highway value → road_class (anything else on a ``lines`` way is skipped and reported)
HIGHWAY_CLASS = {
    "trunk": "arterial", "trunk_link": "arterial", "primary": "arterial", "primary_link": "arterial",
    "secondary": "secondary", "secondary_link": "secondary", "tertiary": "secondary", "tertiary_link": "secondary",
    "residential": "branch", "unclassified": "branch", "living_street": "branch", "road": "branch",
    "pedestrian": "commercial",
    "service": "alley", "footway": "alley",
}
#: why a highway value is not imported
HIGHWAY_SKIP_REASON = {
    "motorway": "高速公路/快速路不属城管保洁照明 expressway, not kept by the bureau",
    "motorway_link": "高速公路/快速路不属城管保洁照明 expressway, not kept by the bureau",
}
DEFAULT_SKIP_REASON = "非城管道路 not a street the bureau keeps"
#: sub-tags that take a service way / footway out of the alley class
ALLEY_EXCLUDED = {"service": {"parking_aisle", "driveway"}, "footway": {"sidewalk", "crossing"}}
#: a name ending like this marks a shopping street (商业街)
SHOPPING_STREET_SUFFIXES = ("步行街", "商业街", "美食街", "商业步行街")

#: green ranking used to drop polygons nested in a higher-ranked one
GREEN_RANK = {"G1": 0, "G3": 1, "G2": 2, "XG": 3}
PRIVATE_ACCESS = {"private", "no"}
NON_PUBLIC_TOILET_ACCESS = {"private", "no", "customers"}

OSMCONF = """\
[general]
closed_ways_are_polygons=aeroway,amenity,boundary,building,craft,geological,historic,landuse,leisure,military,natural,office,place,shop,sport,tourism,highway=platform,public_transport=platform
attribute_name_laundering=no
[points]
osm_id=yes
attributes=name,name:zh,name:zh-Hans,highway,amenity,leisure,wheelchair,toilets:wheelchair,access
other_tags=no
[lines]
osm_id=yes
attributes=name,name:zh,name:zh-Hans,highway,service,footway,shop,width
other_tags=no
[multipolygons]
osm_id=yes
attributes=name,name:zh,name:zh-Hans,leisure,landuse,natural,place,amenity,access,garden:type,wheelchair,toilets:wheelchair
other_tags=no
[multilinestrings]
osm_id=yes
attributes=name
other_tags=no
[other_relations]
osm_id=yes
attributes=name
other_tags=no
"""

REPORT_COLUMNS = ["osm_tag", "layer", "value", "count"]


@dataclass
class OsmImport:
    """What an OSM import produced.

    Attributes
    ----------
    layers : dict[str, GeoDataFrame]
        ``roads``, ``green``, ``lamps``, ``toilets`` (those with features) in WGS84, with catalogue
        field names.
    report : DataFrame
        Columns ``osm_tag, layer, value, count``: one row per mapping rule that fired (``layer`` is
        the catalogue layer, ``value`` the class or code given) and per skipped tag
        (``layer == "skipped"``, ``value`` = the reason).
    source : str
        The extract read.
    """

    layers: dict[str, gpd.GeoDataFrame]
    report: pd.DataFrame
    source: str = ""
    crs: str | None = None
    imports: list = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: int(len(gdf)) for name, gdf in self.layers.items()}

    def to_dict(self) -> dict:
        return {"source": self.source, "crs": self.crs, "counts": self.counts(),
                "report": self.report.to_dict(orient="records"),
                "imports": [r.to_dict() for r in self.imports]}


# ---------------------------------------------------------------------- reading
def check_osm_file(path: Path) -> None:
    """Refuse a file that is not an OpenStreetMap extract (PBF ``OSMHeader`` blob or ``<osm`` XML), naming it.

    An ``.osm.pbf`` starts with a 4-byte header length and a BlobHeader whose type is
    ``OSMHeader``; an ``.osm`` file is XML with an ``<osm`` root element.
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"OSMHeader" in head[:64] or (b"<osm" in head and b"<" in head[:64]):
        return
    raise ValueError(f"{path} 不是 OpenStreetMap 数据 is not an OpenStreetMap extract (.osm.pbf or .osm XML);"
                     " download one from download.geofabrik.de or extract.bbbike.org, or import other"
                     " formats with: civgis import WS LAYER FILE")


def read_osm(path: str | os.PathLike, *, layers=OSM_LAYERS, park_size_ha=(10.0, 1.0),
             nested_share: float = 0.95) -> OsmImport:
    """Read an ``.osm.pbf`` (or ``.osm``) extract and map it to civgis layers (see module docstring).

    Parameters
    ----------
    path : path to the extract.
    layers : which of ``roads, green, lamps, toilets`` to build.
    park_size_ha : (G11, G12) lower bounds in hectares for ``leisure=park`` sub-classes; smaller
        parks are G14 游园. CJJ/T 85-2017 suggests 综合公园 > 10 ha and 社区公园 > 1 ha.
    nested_share : a green polygon whose area lies at least this share inside higher-ranked
        green is dropped (not counted twice).

    Returns
    -------
    OsmImport
        Layers in WGS84 (EPSG:4326) and the mapping report.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"文件不存在 file not found: {path}")
    check_osm_file(path)
    unknown = set(layers) - set(OSM_LAYERS)
    if unknown:
        raise ValueError(f"OSM 不能导入图层 {sorted(unknown)}; choose from {', '.join(OSM_LAYERS)}")
    rows: list[pd.DataFrame] = []
    out: dict[str, gpd.GeoDataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "civgis-osmconf.ini"
        conf.write_text(OSMCONF, encoding="utf-8")
        needs = {"points": {"lamps", "toilets", "green"}, "lines": {"roads"}, "multipolygons": {"green", "toilets"}}
        src = {name: _read(path, name, conf) for name, users in needs.items() if users & set(layers)}
    if "roads" in layers:
        out["roads"], report = map_roads(src["lines"])
        rows.append(report)
    if "green" in layers:
        out["green"], report = map_green(src["multipolygons"], src["points"], park_size_ha=park_size_ha,
                                         nested_share=nested_share)
        rows.append(report)
    if "lamps" in layers:
        out["lamps"], report = map_lamps(src["points"])
        rows.append(report)
    if "toilets" in layers:
        out["toilets"], report = map_toilets(src["points"], src["multipolygons"])
        rows.append(report)
    if "multipolygons" in src:
        rows.append(_residential_report(src["multipolygons"]))
    report = pd.concat([r for r in rows if len(r)] or [_empty_report()], ignore_index=True)
    report["count"] = report["count"].astype("int64")
    return OsmImport(layers={k: v for k, v in out.items() if len(v)}, report=report[REPORT_COLUMNS],
                     source=str(path), crs="EPSG:4326")


def _read(path: Path, layer: str, conf: Path) -> gpd.GeoDataFrame:
    import pyogrio

    kwargs = {"on_invalid": "ignore"} if layer == "multipolygons" else {}
    with warnings.catch_warnings():   # GDAL's notes on unclosed rings: those polygons are repaired or skipped later
        warnings.filterwarnings("ignore", message=".*(closed ring|organizePolygons)", category=RuntimeWarning)
        gdf = pyogrio.read_dataframe(path, layer=layer, CONFIG_FILE=str(conf), use_arrow=True, **kwargs)
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    for column in gdf.columns:
        if column != gdf.geometry.name:
            gdf[column] = gdf[column].astype("string")
    return gdf


def _col(gdf: pd.DataFrame, name: str) -> pd.Series:
    """A tag column as strings (all missing when the extract lacks it)."""
    if name in gdf:
        return gdf[name].astype("string")
    return pd.Series(pd.NA, index=gdf.index, dtype="string")


def _names(gdf: pd.DataFrame) -> pd.Series:
    return _col(gdf, "name:zh-Hans").fillna(_col(gdf, "name:zh")).fillna(_col(gdf, "name"))


def _ids(gdf: pd.DataFrame, prefix_for_osm_id: str) -> pd.Series:
    """``n123``/``w123``/``r123``: the multipolygons layer gives relations in osm_id, ways in osm_way_id."""
    osm_id = _col(gdf, "osm_id")
    ids = prefix_for_osm_id + osm_id
    if "osm_way_id" in gdf:
        ids = ids.fillna("w" + _col(gdf, "osm_way_id"))
    return ids


def _count(tags: pd.Series, layer: pd.Series | str, value: pd.Series | str) -> pd.DataFrame:
    frame = pd.DataFrame({"osm_tag": tags, "layer": layer, "value": value}).astype("string")
    if frame.empty:
        return _empty_report()
    counts = frame.groupby(["osm_tag", "layer", "value"], sort=True).size().rename("count").reset_index()
    return counts


def _empty_report() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "count" else "string") for c in REPORT_COLUMNS})


def _frame(data: dict, geometry, crs=4326) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=crs).values, crs=crs)


# ---------------------------------------------------------------------- roads
def parse_width(width: pd.Series, *, lo: float = 0.5, hi: float = 150.0) -> pd.Series:
    """Metres from OSM ``width`` values ("7", "7.5 m", "7,5"); feet, ranges or out-of-range → NaN."""
    text = width.astype("string").str.strip().str.replace(",", ".", regex=False)
    number = text.str.extract(r"^([0-9]*\.?[0-9]+)\s*(m|meters?|metres?|米)?$", expand=True)[0]
    metres = pd.to_numeric(number, errors="coerce").astype(float)
    return metres.where((metres >= lo) & (metres <= hi))


def map_roads(lines: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Ways with ``highway=*`` → the roads layer (rules in the module docstring) and report rows."""
    highway = _col(lines, "highway")
    lines = lines[highway.notna()]
    highway = highway[highway.notna()]
    names = _names(lines)
    road_class = highway.map(HIGHWAY_CLASS).astype("string")
    tag = "highway=" + highway
    # service ways to parking lots/driveways and mapped sidewalks/crossings are not alleys
    for key, excluded in ALLEY_EXCLUDED.items():
        sub = _col(lines, key)
        hit = (highway == key) & sub.isin(excluded).fillna(False)
        road_class = road_class.mask(hit, pd.NA)
        tag = tag.mask(hit, "highway=" + highway + " + " + key + "=" + sub)
    # shopping streets: a shop tag on the way, or a name that says so
    shop = _col(lines, "shop").notna()
    named = names.fillna("").str.endswith(SHOPPING_STREET_SUFFIXES)
    upgrade = road_class.isin(["arterial", "secondary", "branch", "alley"]).fillna(False) & (shop | named)
    tag = tag.mask(upgrade & shop, "highway=" + highway + " + shop=*")
    tag = tag.mask(upgrade & ~shop, "highway=" + highway + " + 名称含步行街/商业街")
    road_class = road_class.mask(upgrade, "commercial")
    # only line geometries (closed ways tagged area=yes come through the polygon layer instead)
    kinds = shapely.get_type_id(lines.geometry.values)
    is_line = np.isin(kinds, [1, 5]) & ~shapely.is_empty(lines.geometry.values)
    keep = road_class.notna().to_numpy() & is_line
    skipped = ~road_class.notna().to_numpy()
    reason = highway.map(HIGHWAY_SKIP_REASON).fillna(DEFAULT_SKIP_REASON)
    roads = _frame({
        "road_id": _ids(lines, "w")[keep].to_numpy(),
        "name": names[keep].to_numpy(),
        "road_class": road_class[keep].to_numpy(),
        "width_m": parse_width(_col(lines, "width"))[keep].to_numpy(),
    }, lines.geometry.values[keep])
    roads["road_class"] = roads["road_class"].astype("string")
    roads["name"] = roads["name"].astype("string")
    report = pd.concat([
        _count(tag[keep], "roads", road_class[keep]),
        _count(tag[skipped], SKIPPED, reason[skipped]),
    ], ignore_index=True)
    return roads.reset_index(drop=True), report


# ---------------------------------------------------------------------- green
def map_green(polygons: gpd.GeoDataFrame, points: gpd.GeoDataFrame | None = None, *,
              park_size_ha=(10.0, 1.0), nested_share: float = 0.95) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Parks, gardens, squares, woods and grass → the green layer (rules in the module docstring).

    Park sub-classes use the polygon's area on the WGS84 ellipsoid-free local projection (the
    UTM/Gauss-Krüger zone of the extract's centre), in hectares.
    """
    leisure, landuse = _col(polygons, "leisure"), _col(polygons, "landuse")
    natural, place = _col(polygons, "natural"), _col(polygons, "place")
    access, garden_type = _col(polygons, "access"), _col(polygons, "garden:type")
    n = len(polygons)
    category = pd.Series(pd.NA, index=polygons.index, dtype="string")
    sub = pd.Series(pd.NA, index=polygons.index, dtype="string")
    tag = pd.Series(pd.NA, index=polygons.index, dtype="string")

    def assign(mask, cat, subcat, label):
        nonlocal category, sub, tag
        mask = mask.fillna(False) & category.isna()
        category = category.mask(mask, cat)
        if subcat is not None:
            sub = sub.mask(mask, subcat)
        tag = tag.mask(mask, label)

    private = access.isin(PRIVATE_ACCESS).fillna(False) | garden_type.isin({"residential", "private"}).fillna(False)
    area_ha = _area_m2(polygons) / 1e4 if n else pd.Series(dtype=float)
    g11, g12 = park_size_ha
    is_park = leisure == "park"
    assign(is_park & (area_ha >= g11), "G1", "G11", f"leisure=park (≥{g11:g} ha)")
    assign(is_park & (area_ha >= g12), "G1", "G12", f"leisure=park ({g12:g}–{g11:g} ha)")
    assign(is_park, "G1", "G14", f"leisure=park (<{g12:g} ha)")
    garden = leisure == "garden"
    assign(garden & private, "XG", None, "leisure=garden + access=private")
    assign(garden & (garden_type == "botanical"), "G1", "G13", "leisure=garden + garden:type=botanical")
    assign(garden, "G1", "G14", "leisure=garden")
    assign(place == "square", "G3", None, "place=square")
    assign(landuse == "forest", "G2", None, "landuse=forest")
    assign(natural == "wood", "G2", None, "natural=wood")
    for value in ("grass", "village_green", "recreation_ground"):
        assign(landuse == value, "XG", None, f"landuse={value}")

    is_green = category.notna().to_numpy()
    geoms, repaired = _repair_polygons(polygons.geometry.values, is_green)
    valid_geom = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if n else np.zeros(0, bool)
    mapped = is_green & valid_geom
    report_rows = []
    broken = is_green & ~valid_geom
    if broken.any():
        report_rows.append(_count(tag[broken], SKIPPED, "多边形无法构建或修复 polygon could not be built or repaired"))
    if (repaired & mapped).any():
        report_rows.append(_count(tag[repaired & mapped], REPAIRED,
                                  "无效多边形已修复 invalid polygon repaired (make_valid)"))

    # drop polygons nested in higher-ranked green (lawns mapped inside a park …)
    nested = _nested_in_higher(geoms, category, mapped, nested_share) if mapped.any() else np.zeros(n, bool)
    if nested.any():
        report_rows.append(_count(tag[nested], SKIPPED, "位于更高等级绿地内，不重复计 inside higher-ranked green"))
    keep = mapped & ~nested
    green = _frame({
        "green_id": _ids(polygons, "r")[keep].to_numpy(),
        "name": _names(polygons)[keep].to_numpy(),
        "category": category[keep].to_numpy(),
        "subcategory": sub[keep].to_numpy(),
    }, geoms[keep])
    for column in ("green_id", "name", "category", "subcategory"):
        green[column] = green[column].astype("string")
    value = category[keep] + ("/" + sub[keep]).fillna("")
    report_rows.insert(0, _count(tag[keep], "green", value))

    # what else carries leisure/landuse and was not taken (residential is reported on its own)
    other = ~is_green
    for key, series in (("leisure", leisure), ("landuse", landuse)):
        residential = ((series == "residential") & (key == "landuse")).fillna(False).to_numpy(bool)
        rest = other & series.notna().to_numpy(bool) & ~residential
        if rest.any():
            report_rows.append(_count(key + "=" + series[rest], SKIPPED, "非绿地图层 not mapped to green"))
    if points is not None and len(points):
        node_parks = _col(points, "leisure").isin(["park", "garden"]).fillna(False)
        if node_parks.any():
            report_rows.append(_count("leisure=" + _col(points, "leisure")[node_parks] + " (node)", SKIPPED,
                                      "仅为点，无面积 mapped as a point, no area"))
    return green.reset_index(drop=True), pd.concat(report_rows, ignore_index=True)


def _repair_polygons(geoms, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invalid polygons among ``wanted`` repaired with ``make_valid`` (polygonal parts kept).

    Real multipolygon relations are often invalid (self-touching rings, overlapping members):
    GEOS refuses to intersect them. Returns the geometries (a repair that leaves no area is
    empty, so the caller skips it) and the mask of repaired ones.
    """
    geoms = np.array(geoms, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bad = np.zeros(len(geoms), bool)
    bad[present] = ~shapely.is_valid(geoms[present])
    bad &= wanted
    if bad.any():
        fixed = shapely.make_valid(geoms[bad])
        parts, idx = shapely.get_parts(fixed, return_index=True)     # GeometryCollection → members
        parts, j = shapely.get_parts(parts, return_index=True)       # MultiPolygon → polygons
        idx = idx[j]
        poly = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
        out = np.array([shapely.Polygon()] * int(bad.sum()), dtype=object)
        if poly.any():
            has, dense = np.unique(idx[poly], return_inverse=True)
            out[has] = shapely.multipolygons(parts[poly], indices=dense.ravel())
        geoms[bad] = out
    return geoms, bad


def _area_m2(gdf: gpd.GeoDataFrame) -> pd.Series:
    """Areas in m² in the projected metric CRS of the data's centre (never degrees)."""
    valid = gdf.geometry.notna() & ~gdf.geometry.is_empty
    if not valid.any():
        return pd.Series(np.nan, index=gdf.index)
    crs = choose_crs_for(gdf[valid])
    return gdf.geometry.to_crs(crs).area


def _nested_in_higher(geoms: np.ndarray, category: pd.Series, mapped: np.ndarray, share: float) -> np.ndarray:
    """Mask of mapped polygons lying ≥ ``share`` of their area inside a higher-ranked mapped polygon."""
    idx = np.flatnonzero(mapped)
    series = gpd.GeoSeries(geoms[idx], crs=4326)
    projected = series.to_crs(choose_crs_for(series)).values
    rank = category.iloc[idx].map(GREEN_RANK).to_numpy(dtype=float)
    tree = shapely.STRtree(projected)
    left, right = tree.query(projected, predicate="intersects")
    pair = rank[right] < rank[left]
    left, right = left[pair], right[pair]
    out = np.zeros(len(geoms), bool)
    if len(left) == 0:
        return out
    inter = shapely.area(shapely.intersection(projected[left], projected[right]))
    covered = pd.Series(inter).groupby(left).sum()  # higher-ranked polygons rarely overlap each other
    own = shapely.area(projected[covered.index.to_numpy()])
    nested = covered.index.to_numpy()[covered.to_numpy() >= share * own]
    out[idx[nested]] = True
    return out


def _residential_report(polygons: gpd.GeoDataFrame) -> pd.DataFrame:
    landuse = _col(polygons, "landuse")
    hit = (landuse == "residential").fillna(False)
    if not hit.any():
        return _empty_report()
    return _count(pd.Series("landuse=residential", index=polygons.index[hit]), SKIPPED,
                  "居住用地缺人口，未导入；请用本局含人口的数据导入 residential needs population: import it from the bureau's data")


# ---------------------------------------------------------------------- lamps, toilets
def map_lamps(points: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Nodes with ``highway=street_lamp`` → lamps with status ``unknown`` (OSM records no patrol status)."""
    hit = (_col(points, "highway") == "street_lamp").fillna(False).to_numpy()
    lamps = _frame({"lamp_id": _ids(points, "n")[hit].to_numpy(),
                    "status": np.full(int(hit.sum()), "unknown", dtype=object)}, points.geometry.values[hit])
    lamps["lamp_id"] = lamps["lamp_id"].astype("string")
    lamps["status"] = lamps["status"].astype("string")
    report = _count(pd.Series("highway=street_lamp", index=range(int(hit.sum()))), "lamps",
                    "status=unknown") if hit.any() else _empty_report()
    return lamps, report


def _accessible(gdf: pd.DataFrame) -> pd.Series:
    wheelchair = _col(gdf, "toilets:wheelchair").fillna(_col(gdf, "wheelchair"))
    out = pd.Series(pd.NA, index=gdf.index, dtype="boolean")
    out = out.mask((wheelchair == "yes").fillna(False), True)
    out = out.mask(wheelchair.isin(["no", "limited"]).fillna(False), False)
    return out


def map_toilets(points: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame | None = None
                ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """``amenity=toilets`` nodes (and toilet areas without such a node) → public toilets."""
    parts, rows = [], []
    for gdf, prefix, kind in ((points, "n", "node"), (polygons, "r", "area")):
        if gdf is None or not len(gdf):
            continue
        hit = (_col(gdf, "amenity") == "toilets").fillna(False)
        private = hit & _col(gdf, "access").isin(NON_PUBLIC_TOILET_ACCESS).fillna(False)
        if private.any():
            rows.append(_count(f"amenity=toilets ({kind}) + access=" + _col(gdf, "access")[private], SKIPPED,
                               "非公共厕所 not a public toilet"))
        take = (hit & ~private).to_numpy()
        geoms = gdf.geometry.values[take]
        if kind == "area":
            ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
            take[np.flatnonzero(take)[~ok]] = False
            geoms = shapely.point_on_surface(geoms[ok])
        part = _frame({"toilet_id": _ids(gdf, prefix)[take].to_numpy(), "name": _names(gdf)[take].to_numpy(),
                       "accessible": _accessible(gdf)[take].to_numpy(),
                       "_tag": np.full(int(take.sum()), f"amenity=toilets ({kind})", dtype=object)}, geoms)
        if kind == "area" and parts and len(part):
            # a toilet building that already holds a toilet node is one toilet, not two
            node_geoms = parts[0].geometry.values
            area_geoms = gdf.geometry.values[take]
            has_node = np.zeros(len(part), bool)
            tree = shapely.STRtree(area_geoms)
            _, hits = tree.query(node_geoms, predicate="intersects")
            has_node[np.unique(hits)] = True
            if has_node.any():
                rows.append(_count(pd.Series("amenity=toilets (area)", index=range(int(has_node.sum()))), SKIPPED,
                                   "面内已有公厕点，不重复计 a toilet node inside already counts"))
            part = part[~has_node]
        parts.append(part)
    if parts:
        toilets = pd.concat(parts, ignore_index=True)
        toilets = gpd.GeoDataFrame(toilets, geometry="geometry", crs=4326)
    else:
        toilets = _frame({"toilet_id": [], "name": [], "accessible": [], "_tag": []}, [])
    access_label = toilets["accessible"].map({True: "accessible=True", False: "accessible=False"}).fillna(
        "accessible=unknown")
    report = _count(pd.Series(toilets["_tag"].to_numpy()), "toilets", pd.Series(access_label.to_numpy()))
    toilets = toilets.drop(columns="_tag")
    toilets["toilet_id"] = toilets["toilet_id"].astype("string")
    toilets["name"] = toilets["name"].astype("string")
    toilets["accessible"] = toilets["accessible"].astype("boolean")
    return toilets, pd.concat([report] + rows, ignore_index=True)


# ---------------------------------------------------------------------- importing
def import_osm(ws_path, pbf_path, *, crs=None, layers=OSM_LAYERS, replace=(), **read_kwargs) -> OsmImport:
    """Read an OSM extract and import its layers into a workspace through :func:`civgis.store.importers.import_frame`.

    All layers are written in one workspace transaction: a refused layer
    (:class:`civgis.store.validate.ValidationError`) or any error leaves the workspace as it was.
    A truncated ``.osm.pbf`` is refused before anything is read (:func:`check_pbf`). A stored
    layer that already holds features is replaced only when named in ``replace`` (the curated
    lamps with their patrol status are not overwritten by OSM's by accident).
    Layers with no features in the extract are not written. When the workspace already has a
    built-up area, features lying entirely outside it (plus the importer's 5 km margin) are left
    out and counted in the report (the workspace extent is the built-up area, else all its layers).

    Parameters
    ----------
    ws_path : a workspace path (created when missing) or a :class:`~civgis.store.workspace.Workspace`.
    pbf_path : the ``.osm.pbf`` extract.
    crs : projected metric CRS for a new workspace; default: the CGCS2000 Gauss-Krüger zone
        (in China) or UTM zone of the extract's centre. Refused when it contradicts the CRS
        the workspace already has.
    layers : which of ``roads, green, lamps, toilets`` to import.
    replace : layers that may replace stored, non-empty layers (``civgis import-osm --replace``).
    """
    check_pbf(pbf_path)
    ws = ws_path if isinstance(ws_path, Workspace) else Workspace.open_or_create(ws_path, crs=crs)
    held = [name for name in layers if name not in set(replace) and ws.has(name) and len(ws.read(name, columns=[]))]
    if held:
        raise WorkspaceError(
            f"工作空间已有图层 {'、'.join(held)} 的数据，未做任何改动 the workspace already holds "
            f"{', '.join(held)}; to replace it with OpenStreetMap data say so: "
            + " ".join(f"--replace {name}" for name in held) + " (or leave it out of --layers)")
    result = read_osm(pbf_path, layers=layers, **read_kwargs)
    with ws.transaction():
        _import_layers(ws, result, pbf_path, crs)
    result.crs = ws.crs.to_string() if ws.crs.to_epsg() is None else f"EPSG:{ws.crs.to_epsg()}"
    return result


def _import_layers(ws: Workspace, result: OsmImport, pbf_path, crs) -> None:
    """The body of :func:`import_osm`, inside its one transaction."""
    if ws.crs is None:
        if crs is None:
            frames = [g.geometry for g in result.layers.values() if len(g)]
            if not frames:
                raise ValueError(f"{pbf_path}: 未找到可导入的要素 no roads, green, lamps or toilets found")
            crs = choose_crs_for(gpd.GeoSeries(pd.concat(frames, ignore_index=True), crs=4326))
        ws.set_crs(crs)
    elif crs is not None and not CRS.from_user_input(crs).equals(ws.crs):
        raise WorkspaceError(f"工作空间坐标系为 {ws.crs.name}，与 --crs {crs} 不符 the workspace already has another CRS")
    extent = ws.extent(buffer_m=EXTENT_MARGIN_M) if ws.layers() else None   # before this import writes
    extra_rows = []
    for name, gdf in list(result.layers.items()):
        if extent is not None:
            b = shapely.bounds(gdf.to_crs(ws.crs).geometry.values)
            inside = ~((b[:, 0] > extent[2]) | (b[:, 2] < extent[0]) | (b[:, 1] > extent[3]) | (b[:, 3] < extent[1]))
            if (~inside).any():
                extra_rows.append(pd.DataFrame({"osm_tag": ["(any)"], "layer": [SKIPPED],
                                                "value": [f"{name}: 位于建成区范围外 outside the workspace extent"],
                                                "count": [int((~inside).sum())]}))
            gdf = gdf[inside].reset_index(drop=True)
            result.layers[name] = gdf
        if not len(gdf):
            del result.layers[name]
            continue
        result.imports.append(import_frame(ws, name, gdf, repair=True, source=f"OpenStreetMap {Path(pbf_path).name}",
                                           check_extent=False))   # filtered above against the extent before the import
    if extra_rows:
        result.report = pd.concat([result.report, *extra_rows], ignore_index=True)
        result.report["count"] = result.report["count"].astype("int64")


def check_pbf(path) -> None:
    """Refuse a truncated or corrupt ``.osm.pbf`` before reading it (GDAL reads a cut file silently).

    A PBF file is a sequence of blocks: a 4-byte big-endian length, a ``BlobHeader`` protobuf of
    that length (field 1 the type, ``OSMHeader`` first then ``OSMData``; field 3 ``datasize``)
    and ``datasize`` bytes of blob. Every block must fit in the file. Other suffixes (``.osm``
    XML) are left to GDAL.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"文件不存在 file not found: {path}")
    if not path.name.lower().endswith(".pbf"):
        return
    size = path.stat().st_size
    pos, types = 0, []
    with open(path, "rb") as fh:
        while pos < size:
            head = fh.read(4)
            length = int.from_bytes(head, "big") if len(head) == 4 else -1
            header = fh.read(length) if 0 < length <= 64 * 1024 else b""
            fields = _protobuf_fields(header) if len(header) == length else None
            datasize = fields.get(3) if fields else None
            if not isinstance(datasize, int) or pos + 4 + length + datasize > size:
                raise ValueError(f"{path}: OSM 数据文件不完整或已损坏 the extract is truncated or corrupt at byte {pos} "
                                 f"of {size} ({len(types)} blocks read); nothing was imported — download it again")
            types.append(fields.get(1))
            fh.seek(datasize, 1)
            pos += 4 + length + datasize
    if not types or types[0] != b"OSMHeader":
        raise ValueError(f"{path}: 不是 OSM PBF 文件 not an .osm.pbf extract (no OSMHeader block)")


def _protobuf_fields(data: bytes) -> dict | None:
    """Field number → value of a flat protobuf message (varints and length-delimited), None if malformed."""
    out, i = {}, 0
    try:
        while i < len(data):
            key, i = _varint(data, i)
            number, wire = key >> 3, key & 7
            if wire == 0:
                out[number], i = _varint(data, i)
            elif wire == 2:
                n, i = _varint(data, i)
                if i + n > len(data):
                    return None
                out[number], i = data[i:i + n], i + n
            else:
                return None
    except IndexError:
        return None
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7


def report_zh(report: pd.DataFrame) -> pd.DataFrame:
    """The report with Chinese layer titles and value labels, for printing."""
    def layer_title(name):
        return {SKIPPED: "跳过", REPAIRED: "已修复"}.get(name) or f"{layer_spec(name).title_zh}"

    def value_label(row):
        if row.layer in (SKIPPED, REPAIRED):
            return str(row.value).split(" ")[0]  # the Chinese half of "中文 english"
        spec = layer_spec(row.layer)
        labels = []
        for part in str(row.value).split("/"):
            code = part.split("=")[-1]
            for fname in ("road_class", "category", "subcategory", "status"):
                if fname in spec.fields and code in spec.fields[fname].values:
                    labels.append(spec.fields[fname].values[code])
                    break
            else:
                labels.append({"accessible=True": "无障碍", "accessible=False": "非无障碍",
                               "accessible=unknown": "无障碍未知"}.get(part, part))
        return "/".join(labels) + f" ({row.value})"

    out = report.copy()
    out["value"] = [value_label(r) for r in report.itertuples()]
    out["layer"] = report["layer"].map(layer_title)
    return out

