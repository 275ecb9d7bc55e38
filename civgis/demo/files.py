"""Writing the bureau's files of the demo county: shapefile, CSV, Excel, GeoPackages, GeoJSON, canopy GeoTIFF.

Examples
--------
>>> import tempfile
>>> manifest = generate_demo_files(tempfile.mkdtemp(), scale=0.2)
>>> manifest["crs"], len(manifest["imports"])
('EPSG:4527', 10)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from civgis.store.coords import from_wgs84
from civgis.demo.common import DEFAULT_SEED, DEMO_TODAY, COUNTY_NAME, ADMIN_CODE, CRS_EPSG, CLASS_ZH, _lonlat
from civgis.demo.manifest import build_manifest
from civgis.demo.plan import County

__all__ = ["generate_demo_files"]


# ---------------------------------------------------------------------- writing the files
@contextlib.contextmanager
def _fixed_gpkg_date():
    """GeoPackages stamp the write time into gpkg_contents; pin it so a seed gives identical bytes."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": DEMO_TODAY + "T00:00:00.000Z"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _write_canopy(county: County, path: Path, pixel: float = 10.0) -> dict:
    """Fractional vegetation cover (0–1) at ``pixel`` metres: green polygons by class plus street trees."""
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    rng = np.random.default_rng([county.seed, 7])
    x0, y0, x1, y1 = county.built_f.bounds
    x0, y0 = math.floor((x0 - 300) / pixel) * pixel, math.floor((y0 - 300) / pixel) * pixel
    x1, y1 = math.ceil((x1 + 300) / pixel) * pixel, math.ceil((y1 + 300) / pixel) * pixel
    width, height = int(round((x1 - x0) / pixel)), int(round((y1 - y0) / pixel))
    sub = 4 if width * height * 16 <= 25e6 else (2 if width * height * 4 <= 40e6 else 1)
    fine = from_origin(x0, y1, pixel / sub, pixel / sub)
    cover_by_cat = {"G1": (0.7, 0.9), "G2": (0.8, 0.95), "G3": (0.15, 0.3), "XG": (0.6, 0.85), "EG": (0.75, 0.95)}
    cats = county.green_attr.category.to_numpy()
    lo = np.array([cover_by_cat[c][0] for c in cats])
    hi = np.array([cover_by_cat[c][1] for c in cats])
    shapes = [(g, float(v)) for g, v in zip(county.green_f, rng.uniform(lo, hi))]
    # residential gardens and courtyards
    shapes += [(g, float(v)) for g, v in zip(county.res_f, rng.uniform(0.08, 0.18, len(county.res_f)))]
    # street trees: two rows of crowns (≈ 4 m radius) just inside the kerb of most roads
    roads = county.roads_plan
    treed = (roads.road_class.isin(["arterial", "secondary", "branch", "commercial"]).to_numpy()
             & (rng.random(len(roads)) < 0.8))
    lines = county.roads_f[treed]
    off = np.maximum(roads.width_m.to_numpy()[treed] / 2 - 1.5, 1.0)
    rows = np.r_[shapely.offset_curve(lines, off), shapely.offset_curve(lines, -off)]
    crowns = shapely.buffer(rows, 4.0, cap_style="flat", quad_segs=2)
    shapes += [(g, 0.9) for g in crowns]
    shapes.sort(key=lambda s: s[1])  # later shapes win: overlapping covers keep the highest
    arr = rasterize(shapes, out_shape=(height * sub, width * sub), transform=fine, fill=0.0, dtype="float32")
    arr = arr.reshape(height, sub, width, sub).mean(axis=(1, 3))
    arr = np.clip(arr * rng.normal(1.0, 0.06, arr.shape), 0.0, 1.0).astype("float32")
    transform = from_origin(x0, y1, pixel, pixel)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs=county.crs.to_wkt(), transform=transform, compress="deflate", tiled=True,
                       blockxsize=256, blockysize=256) as dst:
        dst.write(arr, 1)
        dst.update_tags(1, DESCRIPTION="fractional vegetation cover 0-1")
    return {"pixel_m": pixel, "width": width, "height": height, "mean_cover": round(float(arr.mean()), 4)}


def generate_demo_files(out_dir, *, seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict:
    """Write the demo county's raw files and ``manifest.json`` into ``out_dir``; return the manifest.

    Parameters
    ----------
    out_dir : path
        Folder for the files (created).
    seed : int
        Seed of the numpy Generator; the same seed writes the same files.
    scale : float
        Multiplies area and counts: built-up area 17.5 km² × scale, 150 000 × scale residents,
        about 50 × scale zones, 30 000 × scale inspection cases.

    Returns
    -------
    dict
        The manifest: seed, scale, CRS, centre, ``imports`` (layer, path and the keyword options
        of :func:`civgis.store.importers.import_file` for every file) and ``planted`` facts (in the workspace
        CRS, metres, with WGS84 lon/lat), ``counts``.

    Examples
    --------
    >>> import tempfile
    >>> m = generate_demo_files(tempfile.mkdtemp(), scale=0.2)
    >>> [len(m["planted"][k]) >= 3 for k in ("zone_gaps", "zone_overlaps", "unlit_stretches")]
    [True, True, True]
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = County(seed, scale).build()
    crs = c.crs
    gk = lambda geoms: gpd.GeoSeries(geoms, crs=crs)
    imports = []

    def record(layer, path, fmt, crs_text, **options):
        imports.append({"layer": layer, "path": path, "format": fmt, "crs": crs_text,
                        "encoding": options.get("encoding"), "coords": options.get("coords", "wgs84"),
                        "lon": options.get("lon"), "lat": options.get("lat"), "options": options})

    # built-up boundary: GeoJSON, WGS84
    built = gpd.GeoDataFrame({"名称": [f"{COUNTY_NAME}建成区"]}, geometry=gk([c.built_f]))
    built.to_crs(4326).to_file(out / "built_up.geojson", driver="GeoJSON")
    record("built_up", "built_up.geojson", "GeoJSON", "EPSG:4326")

    # zones: GeoPackage in the Gauss-Krüger CRS, Chinese column names
    z = c.zones_attr
    zones = gpd.GeoDataFrame({"责任区编号": z.zone_id, "责任区名称": z.name, "责任单位": z.unit,
                              "责任人": z.staff, "联系电话": z.phone}, geometry=gk(c.zones_f))
    # green land: GeoPackage in CGCS2000 geographic (EPSG:4490), as surveying offices deliver it
    g = c.green_attr
    green_ids = [f"GL{i + 1:04d}" for i in range(len(g))]
    green = gpd.GeoDataFrame({"绿地编号": green_ids, "名称": g.name, "绿地类别": g.category, "中类": g.subcategory},
                             geometry=gk(c.green_f))
    # residential land: GeoPackage, Gauss-Krüger
    r = c.res_attr
    res_ids = [f"R{i + 1:04d}" for i in range(len(r))]
    residential = gpd.GeoDataFrame({"编号": res_ids, "小区名称": r.name, "常住人口": r.population},
                                   geometry=gk(c.res_f))
    with _fixed_gpkg_date():
        pyogrio.write_dataframe(zones, out / "zones.gpkg", layer="包保责任区", driver="GPKG")
        pyogrio.write_dataframe(green.to_crs(4490), out / "green.gpkg", layer="绿地", driver="GPKG")
        pyogrio.write_dataframe(residential, out / "residential.gpkg", layer="居住用地", driver="GPKG")
    record("zones", "zones.gpkg", "GPKG", f"EPSG:{CRS_EPSG}")
    record("green", "green.gpkg", "GPKG", "EPSG:4490")
    record("residential", "residential.gpkg", "GPKG", f"EPSG:{CRS_EPSG}")

    # candidate plots: GeoJSON, WGS84
    cand_ids = [f"KD{i + 1:03d}" for i in range(len(c.cand_f))]
    cand_pts = shapely.point_on_surface(c.cand_f)
    nearest_road = [c.roads_plan.name.iat[i] for i in
                    shapely.STRtree(c.roads_f).nearest(cand_pts)] if len(c.cand_f) else []
    cands = gpd.GeoDataFrame({"地块编号": cand_ids, "地块名称": [f"{nm}边闲置地块" for nm in nearest_road]},
                             geometry=gk(c.cand_f))
    cands.to_crs(4326).to_file(out / "candidates.geojson", driver="GeoJSON")
    record("candidates", "candidates.geojson", "GeoJSON", "EPSG:4326")

    # roads: ESRI Shapefile in GBK *without* a .cpg, Chinese columns and values
    rp = c.roads_plan
    road_ids = np.array([f"DL{i + 1:05d}" for i in range(len(rp))])
    roads = gpd.GeoDataFrame({"道路编号": road_ids, "道路名称": rp.name.to_numpy(),
                              "道路等级": rp.road_class.map(CLASS_ZH).to_numpy(), "路宽": rp.width_m.to_numpy(),
                              "机扫": np.where(rp.mech_swept, "是", "否")}, geometry=gk(c.roads_f))
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        (out / f"roads{suffix}").unlink(missing_ok=True)
    pyogrio.write_dataframe(roads.to_crs(4326), out / "roads.shp", driver="ESRI Shapefile", encoding="GBK")
    (out / "roads.cpg").unlink(missing_ok=True)  # as office files usually come: the user must say GBK
    record("roads", "roads.shp", "ESRI Shapefile", "EPSG:4326", encoding="gbk")

    # lamps: GBK CSV with GCJ-02 (Amap) coordinates
    lon, lat = _lonlat(c, shapely.get_x(c.lamps_f), shapely.get_y(c.lamps_f))
    glon, glat = from_wgs84(lon, lat, "gcj02")
    lamp_ids = np.char.add(ADMIN_CODE + "0118", np.char.zfill(np.arange(1, len(lon) + 1).astype(str), 6))
    lamps = pd.DataFrame({"路灯编号": lamp_ids, "经度": np.round(glon, 6), "纬度": np.round(glat, 6),
                          "状态": np.where(c.lamps_attr.broken, "故障", "正常")})
    lamps.to_csv(out / "lamps.csv", index=False, encoding="gbk", lineterminator="\n")
    record("lamps", "lamps.csv", "CSV", "GCJ-02", encoding="gbk", lon="经度", lat="纬度", coords="gcj02")

    # toilets: Excel sheet with BD-09 (Baidu) coordinates
    tlon, tlat = _lonlat(c, shapely.get_x(c.toilets_f), shapely.get_y(c.toilets_f))
    blon, blat = from_wgs84(tlon, tlat, "bd09")
    toilet_ids = [f"{ADMIN_CODE}0301{i + 1:06d}" for i in range(len(tlon))]
    _write_xlsx(out / "toilets.xlsx", ["公厕编号", "名称", "经度", "纬度", "无障碍"],
                zip(toilet_ids, c.toilets_attr.name, np.round(blon, 6).tolist(), np.round(blat, 6).tolist(),
                    np.where(c.toilets_attr.accessible, "是", "否").tolist()), sheet="公厕台账")
    record("toilets", "toilets.xlsx", "XLSX", "BD-09", lon="经度", lat="纬度", coords="bd09")

    # inspection cases: UTF-8 CSV with GCJ-02 coordinates (as the digital city-management system exports)
    cs = c.cases
    ilon, ilat = _lonlat(c, cs.x.to_numpy(), cs.y.to_numpy())
    iglon, iglat = from_wgs84(ilon, ilat, "gcj02")
    fmt = lambda col: pd.Series(pd.to_datetime(cs[col]).dt.strftime("%Y-%m-%d %H:%M:%S")).fillna("")
    cases = pd.DataFrame({"case_id": cs.case_id, "category": cs.category, "reported_at": fmt("reported_at"),
                          "deadline": fmt("deadline"), "closed_at": fmt("closed_at"), "status": cs.status,
                          "lon": np.round(iglon, 6), "lat": np.round(iglat, 6)})
    cases.to_csv(out / "inspections.csv", index=False, encoding="utf-8", lineterminator="\n")
    record("inspections", "inspections.csv", "CSV", "GCJ-02", lon="lon", lat="lat", coords="gcj02")

    # canopy raster: GeoTIFF in the projected CRS
    canopy = _write_canopy(c, out / "canopy.tif")
    record("canopy", "canopy.tif", "GeoTIFF", f"EPSG:{CRS_EPSG}")

    manifest = build_manifest(c, imports, zone_ids=z.zone_id.tolist(), road_ids=road_ids, cand_ids=cand_ids,
                         green_ids=green_ids, canopy=canopy)
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def _write_xlsx(path: Path, header: list[str], rows, *, sheet: str) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    stamp = dt.datetime.fromisoformat(DEMO_TODAY)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "civgis demo"
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps every zip member with the current time: re-pack with a fixed one (same seed, same bytes)
    import zipfile

    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl sets "modified" to now on save
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode(),
                              data)
            dst.writestr(fixed, data)


