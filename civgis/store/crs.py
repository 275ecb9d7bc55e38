"""Choosing the workspace's projected metric CRS.

Every area and distance in civgis is computed in one projected metric CRS per workspace:

* data in China → the CGCS2000 3-degree Gauss-Krüger zone whose central meridian is nearest
  the data's centre (zone n has central meridian 3n°E; EPSG:4513 is zone 25 … EPSG:4533 zone 45,
  eastings carry the zone number as a prefix);
* elsewhere → the WGS84 UTM zone of the centre (EPSG:326zz north, 327zz south).

Within a 3-degree zone the Gauss-Krüger scale error is below 1.4e-4 (0.014 %), so areas are
true to about 0.03 %.

Examples
--------
>>> choose_crs(117.2, 31.8).to_epsg()   # Hefei: CM 117°E, zone 39
4527
>>> choose_crs(-0.12, 51.5).to_epsg()   # London: UTM 30N
32630
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np
import shapely
from pyproj import CRS, Transformer

from civgis.store.coords import in_china

__all__ = ["lonlat", "to_wgs84", "CGCS2000_GK3_FIRST_EPSG", "CGCS2000_GK3_FIRST_ZONE", "CGCS2000_GK3_LAST_ZONE",
           "CGCS2000_GK6_FIRST_EPSG", "CGCS2000_GK6_FIRST_ZONE", "CGCS2000_GK6_LAST_ZONE", "CHINA_NORTHING_M",
           "gauss_kruger_zone", "utm_zone", "choose_crs", "choose_crs_for", "outside_area_of_use",
           "is_metric_projected", "infer_gauss_kruger", "is_six_degree_gauss_kruger", "workspace_crs_for"]

CGCS2000_GK3_FIRST_EPSG = 4513  # zone 25, central meridian 75°E
CGCS2000_GK3_FIRST_ZONE = 25
CGCS2000_GK3_LAST_ZONE = 45


def gauss_kruger_zone(lon: float) -> int:
    """3-degree Gauss-Krüger zone number: the central meridian 3n° nearest ``lon``."""
    return int(math.floor(lon / 3.0 + 0.5))


def utm_zone(lon: float) -> int:
    return int((lon + 180.0) // 6.0) % 60 + 1


def choose_crs(lon: float, lat: float) -> CRS:
    """The projected metric CRS for data centred at (lon, lat) in WGS84 degrees."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"centre ({lon}, {lat}) is not longitude/latitude in degrees")
    zone = gauss_kruger_zone(lon)
    if bool(in_china(lon, lat)) and CGCS2000_GK3_FIRST_ZONE <= zone <= CGCS2000_GK3_LAST_ZONE:
        return CRS.from_epsg(CGCS2000_GK3_FIRST_EPSG + zone - CGCS2000_GK3_FIRST_ZONE)
    south = lat < 0
    return CRS.from_epsg((32700 if south else 32600) + utm_zone(lon))


def choose_crs_for(gdf) -> CRS:
    """The projected CRS for a GeoDataFrame/GeoSeries with a CRS, chosen at the bulk of the data.

    The centre is the median longitude and latitude of the features' bounding-box centres (in
    WGS84), not the centre of the total bounds: one stray point on another continent cannot
    move the workspace into its zone.
    """
    if gdf.crs is None:
        raise ValueError("data has no CRS; give one with --crs")
    geoms = np.asarray(gdf.to_crs(4326).geometry.values, dtype=object)
    b = shapely.bounds(geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))])
    cx, cy = (b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0
    ok = np.isfinite(cx) & np.isfinite(cy)
    if not ok.any():
        raise ValueError("data has no finite coordinates in its CRS; check the CRS (--crs)")
    return choose_crs(float(np.median(cx[ok])), float(np.median(cy[ok])))


def outside_area_of_use(gdf, crs=None, *, margin_deg: float = 0.0) -> np.ndarray:
    """Mask of features whose coordinates do not fall in ``crs``'s area of use (default: the data's CRS).

    The features are converted to WGS84 longitude/latitude; a feature is outside when the
    conversion gives non-finite values (coordinates that the CRS cannot even convert, e.g.
    degrees declared as Gauss-Krüger metres) or its bounds leave the CRS's published area of
    use (``pyproj.CRS.area_of_use``) widened by ``margin_deg`` degrees. A CRS without an
    area of use is only checked for finite, valid longitude/latitude.
    """
    crs = CRS.from_user_input(crs if crs is not None else gdf.crs)
    lonlat = gdf if CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326)) else gdf.to_crs(4326)
    geoms = np.asarray(lonlat.geometry.values, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = np.zeros(len(geoms), bool)
    if not present.any():
        return out
    b = shapely.bounds(geoms[present])
    area = crs.area_of_use
    w, s, e, n = (area.west, area.south, area.east, area.north) if area is not None else (-180, -90, 180, 90)
    if w > e:            # an area crossing the antimeridian: check latitude only
        w, e = -180.0, 180.0
    bad = ~np.isfinite(b).all(axis=1)
    with np.errstate(invalid="ignore"):
        bad |= (b[:, 0] < max(w - margin_deg, -180.0)) | (b[:, 2] > min(e + margin_deg, 180.0))
        bad |= (b[:, 1] < max(s - margin_deg, -90.0)) | (b[:, 3] > min(n + margin_deg, 90.0))
    out[np.flatnonzero(present)[bad]] = True
    return out


def is_metric_projected(crs) -> bool:
    crs = CRS.from_user_input(crs)
    return crs.is_projected and all(
        (axis.unit_name or "").lower() in ("metre", "meter", "m") for axis in crs.axis_info
    )


# ---------------------------------------------------------------------- Gauss-Krüger without a .prj
CGCS2000_GK6_FIRST_EPSG = 4491  # 6-degree zone 13, central meridian 75°E … EPSG:4501 zone 23 (135°E)
CGCS2000_GK6_FIRST_ZONE = 13
CGCS2000_GK6_LAST_ZONE = 23
#: northings of mainland China and its islands in Gauss-Krüger metres (about 3°N … 54°N)
CHINA_NORTHING_M = (300_000.0, 6_100_000.0)


def infer_gauss_kruger(x, y) -> tuple[CRS, str]:
    """The CGCS2000 Gauss-Krüger CRS of projected coordinates whose easting carries the zone number.

    A zone-prefixed easting is ``zone × 1 000 000 + 500 000 ± offset`` (false easting 500 km).
    The zone numbers of the two systems do not overlap over China: 6° zones are 13–23
    (central meridian 6n − 3), 3° zones are 25–45 (central meridian 3n). So 39 512 345 is
    3° zone 39 (CM 117°E, EPSG:4527) and 20 512 345 is 6° zone 20 (CM 117°E, EPSG:4498).

    Returns ``(crs, note)``; raises ValueError (with the ``--crs`` to give) when the numbers are not
    prefixed eastings in one zone — e.g. eastings without a zone number, which fit every zone.

    Examples
    --------
    >>> infer_gauss_kruger([39512345.0], [3688000.0])[0].to_epsg()
    4527
    >>> infer_gauss_kruger([20512345.0], [3688000.0])[0].to_epsg()
    4498
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    zones = np.unique(np.floor(x / 1e6)).astype(int)
    inner = x - np.floor(x / 1e6) * 1e6
    northing_ok = bool(np.all((y >= CHINA_NORTHING_M[0]) & (y <= CHINA_NORTHING_M[1])))
    if len(zones) == 1 and northing_ok and np.all(np.abs(inner - 500_000.0) < 400_000.0):
        zone = int(zones[0])
        if CGCS2000_GK3_FIRST_ZONE <= zone <= CGCS2000_GK3_LAST_ZONE:
            crs = CRS.from_epsg(CGCS2000_GK3_FIRST_EPSG + zone - CGCS2000_GK3_FIRST_ZONE)
            return crs, (f"无坐标系文件：东坐标带号 {zone} 在 25–45 之间，按 CGCS2000 3° 分带第 {zone} 带"
                         f"（中央经线 {3 * zone}°E）EPSG:{crs.to_epsg()} 读取；不对请用 --crs 指定")
        if CGCS2000_GK6_FIRST_ZONE <= zone <= CGCS2000_GK6_LAST_ZONE:
            crs = CRS.from_epsg(CGCS2000_GK6_FIRST_EPSG + zone - CGCS2000_GK6_FIRST_ZONE)
            return crs, (f"无坐标系文件：东坐标带号 {zone} 在 13–23 之间，按 CGCS2000 6° 分带第 {zone} 带"
                         f"（中央经线 {6 * zone - 3}°E）EPSG:{crs.to_epsg()} 读取；不对请用 --crs 指定")
    if northing_ok and np.all((x > 100_000) & (x < 900_000)):
        raise ValueError("坐标像不带带号的高斯-克吕格坐标，无法判断分带 (Gauss-Krüger eastings without a zone "
                         "number fit every zone); give the zone's central meridian, e.g. --crs EPSG:4548 "
                         "(CGCS2000 3° CM 117°E; EPSG:4534 + (CM − 75)/3)")
    raise ValueError("坐标既不是经纬度也不是带带号的高斯-克吕格坐标 (neither lon/lat nor zone-prefixed "
                     "Gauss-Krüger eastings); give the CRS with --crs, e.g. --crs EPSG:4527")


def is_six_degree_gauss_kruger(crs) -> bool:
    """A 6-degree Gauss-Krüger CRS (CGCS2000, Xian 1980 or Beijing 1954 — by its name)."""
    name = CRS.from_user_input(crs).name
    return "Gauss-Kruger" in name and "3-degree" not in name


def workspace_crs_for(gdf) -> tuple[CRS, str | None]:
    """The workspace CRS a first import chooses, and a note when it differs from the data's own.

    As the README says: the CGCS2000 3-degree Gauss-Krüger zone of the data. Data in a metric
    projected CRS is kept as it is — except a 6-degree Gauss-Krüger zone, which would make every
    later layer 6°: then the 3° zone of the data's centre is chosen and the data reprojected.
    """
    crs = CRS.from_user_input(gdf.crs)
    if crs.is_projected and is_metric_projected(crs) and not is_six_degree_gauss_kruger(crs):
        return crs, None
    chosen = choose_crs_for(gdf)
    if crs.is_projected:
        return chosen, (f"数据为 6° 分带 {crs.name}；工作空间按 3° 分带建立（README：每个工作空间一个 CGCS2000 3° 分带），"
                        f"采用 EPSG:{chosen.to_epsg()} {chosen.name} 并已重投影")
    return chosen, None


@functools.lru_cache(maxsize=32)
def _to_wgs84(wkt: str, thread: int) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(wkt), 4326, always_xy=True)


def to_wgs84(crs) -> Transformer:
    """The transformer from ``crs`` to WGS 84 (lon, lat order), built once per CRS and thread.

    Building one costs ~45 ms (PROJ looks up its database); a pass plan asks for ~100, so they
    are kept. pyproj transformers must not be shared between threads, hence the thread key.
    """
    return _to_wgs84(CRS.from_user_input(crs).to_wkt(), threading.get_ident())


def lonlat(points, crs) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (WGS 84) of shapely points in ``crs``; NaN for none or no CRS.

    A point on the central meridian of Gauss-Krüger zone 39 (117° E), 3 300 km north:

    >>> lon, lat = lonlat(np.array([shapely.Point(39_500_000, 3_300_000)]), 4527)
    >>> round(float(lon[0]), 6), round(float(lat[0]), 1)
    (117.0, 29.8)
    """
    pts = np.asarray(points, dtype=object)
    if len(pts) == 0 or crs is None:
        return np.full(len(pts), np.nan), np.full(len(pts), np.nan)
    lon, lat = to_wgs84(crs).transform(shapely.get_x(pts), shapely.get_y(pts))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
