"""Chinese web-map coordinate offsets: GCJ-02 (高德/腾讯, "Mars coordinates") and BD-09 (百度).

Coordinates picked on Amap, Tencent or Baidu maps are not WGS84: GCJ-02 adds a deliberate,
position-dependent offset of a few hundred metres; BD-09 adds a further rotation and shift on
top of GCJ-02. The forward transforms are the published closed formulas. The inverses have no
closed form; they are solved here by fixed-point iteration of the forward transform until the
residual is below 1e-9 degrees (about 0.1 mm), which is far below the < 1 m the bureau needs
for a lamp to land on its street.

All functions are vectorised over NumPy arrays (or scalars) of longitude and latitude in degrees.
Points outside mainland China are returned unchanged, as the official transform does.

Examples
--------
>>> lon, lat = wgs84_to_gcj02(116.397, 39.909)
>>> back_lon, back_lat = gcj02_to_wgs84(lon, lat)
>>> round(float(back_lon), 9), round(float(back_lat), 9)
(116.397, 39.909)
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["COORD_SYSTEMS", "in_china", "wgs84_to_gcj02", "gcj02_to_bd09", "wgs84_to_bd09", "gcj02_to_wgs84",
           "bd09_to_gcj02", "bd09_to_wgs84", "to_wgs84", "from_wgs84", "parse_angles"]

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


def in_china(lon, lat):
    """True where the GCJ-02 offset applies (the rough mainland box the formula uses)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _delta(lon, lat):
    x = lon - 105.0
    y = lat - 35.0
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def _as_arrays(lon, lat):
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def wgs84_to_gcj02(lon, lat):
    """WGS84 → GCJ-02 (the published forward formula)."""
    lon, lat = _as_arrays(lon, lat)
    d_lon, d_lat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (Baidu's published forward formula)."""
    lon, lat = _as_arrays(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon, lat, tol_deg=1e-9, max_iter=30):
    """Solve forward(x) = (lon, lat) for x by fixed-point iteration x ← x + (target − forward(x))."""
    target_lon, target_lat = _as_arrays(lon, lat)
    x_lon, x_lat = target_lon.copy(), target_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = forward(x_lon, x_lat)
        r_lon, r_lat = target_lon - f_lon, target_lat - f_lat
        x_lon, x_lat = x_lon + r_lon, x_lat + r_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(r_lon), np.ravel(r_lat)])), initial=0.0) < tol_deg:
            break
    return x_lon, x_lat


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS84, solved iteratively to < 1e-9° (≈ 0.1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02, solved iteratively to < 1e-9°."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon, lat, system: str):
    """Convert from ``system`` ∈ {'wgs84', 'gcj02', 'bd09'} to WGS84."""
    system = system.lower().replace("-", "").replace("_", "")
    if system == "wgs84":
        return _as_arrays(lon, lat)
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"未知坐标系 unknown coordinate system {system!r}; use one of {COORD_SYSTEMS}")


def from_wgs84(lon, lat, system: str):
    """Convert WGS84 to ``system`` ∈ {'wgs84', 'gcj02', 'bd09'} (for exports and the Amap basemap)."""
    system = system.lower().replace("-", "").replace("_", "")
    if system == "wgs84":
        return _as_arrays(lon, lat)
    if system == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if system == "bd09":
        return wgs84_to_bd09(lon, lat)
    raise ValueError(f"未知坐标系 unknown coordinate system {system!r}; use one of {COORD_SYSTEMS}")


# ---------------------------------------------------------------------- degrees-minutes-seconds
_DMS = re.compile(
    r"^\s*(?P<h1>东经|北纬|西经|南纬|[NSEWnsew东西南北])?\s*"
    r"(?P<d>[+-]?\d+(?:\.\d+)?)\s*(?:[°º˚度:：]|\s)?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*(?:['′’‘分:：]|\s)?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)\s*(?:\"|″|”|“|''|′′|秒)?)?)?\s*"
    r"(?P<h2>[NSEWnsew东西南北])?\s*$")
_NEGATIVE = {"S", "W", "s", "w", "南", "西", "西经", "南纬"}


def parse_angles(values) -> np.ndarray:
    """Degrees from text in degrees-minutes-seconds, in the common spellings; NaN where not an angle.

    Accepted: ``116°55′20.78″E``, ``116°55'20.78"``, ``116度55分20.78秒``, ``东经116度55分20.78秒``,
    ``116:55:20.78``, ``116°55.3463′`` (decimal minutes) and plain decimal degrees. Degrees =
    d + m/60 + s/3600, negative for S/W (南/西); minutes and seconds must be below 60.

    Examples
    --------
    >>> parse_angles(["116°55′20.78″E", "116度55分20.78秒", "116:55:20.78"]).round(6).tolist()
    [116.922439, 116.922439, 116.922439]
    """
    text = pd.Series(values, dtype="string").str.strip()
    parts = text.str.extract(_DMS)
    d = pd.to_numeric(parts["d"], errors="coerce")
    m = pd.to_numeric(parts["m"], errors="coerce").fillna(0.0)
    s = pd.to_numeric(parts["s"], errors="coerce").fillna(0.0)
    ok = d.notna() & (m < 60) & (s < 60) & (text.str.len().fillna(0) > 0)
    ok &= ~(parts["m"].isna() & parts["s"].notna())
    deg = d.abs() + m / 60.0 + s / 3600.0
    hemi = parts["h1"].fillna(parts["h2"])
    sign = np.where(hemi.isin(_NEGATIVE).fillna(False) | (d < 0).fillna(False), -1.0, 1.0)
    return np.where(ok.fillna(False).to_numpy(bool), sign * deg.to_numpy(float, na_value=np.nan), np.nan)
