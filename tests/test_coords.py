"""GCJ-02 / BD-09 transforms against published reference points and round trips."""

import numpy as np
import pytest
from pyproj import Geod

from civgis.store import coords

GEOD = Geod(ellps="WGS84")

# Beijing railway station, as published with the R packages 'geoChina'/'baidumap' and cross-checked
# there against Baidu's geoconv web API (which returned GCJ-02 39.90245063, 116.42702745).
# Published values are rounded to 1e-5 degrees (±0.6 m); the providers' own services add their own
# sub-metre differences, so agreement is asserted to 1.5 m.
WGS84 = (116.42079, 39.90105)
GCJ02 = (116.42703, 39.90245)
GCJ02_BAIDU_API = (116.42702745, 39.90245063)
BD09 = (116.43351, 39.90851)


def metres(a, b) -> float:
    return float(GEOD.inv(float(a[0]), float(a[1]), float(b[0]), float(b[1]))[2])


def test_forward_matches_published_points():
    assert metres(coords.wgs84_to_gcj02(*WGS84), GCJ02) < 1.5
    assert metres(coords.wgs84_to_gcj02(*WGS84), GCJ02_BAIDU_API) < 1.0
    assert metres(coords.wgs84_to_bd09(*WGS84), BD09) < 1.5
    # the offset itself is hundreds of metres: the test would fail with an identity transform
    assert 500 < metres(WGS84, GCJ02) < 700


def test_inverse_matches_published_points():
    assert metres(coords.gcj02_to_wgs84(*GCJ02), WGS84) < 1.5
    assert metres(coords.bd09_to_wgs84(*BD09), WGS84) < 1.5


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_round_trip_is_sub_millimetre_across_china(system):
    rng = np.random.default_rng(1)
    lon = rng.uniform(74, 134, 5000)
    lat = rng.uniform(19, 53, 5000)
    back_lon, back_lat = coords.to_wgs84(*coords.from_wgs84(lon, lat, system), system)
    dist = GEOD.inv(lon, lat, back_lon, back_lat)[2]
    assert dist.max() < 0.001


def test_outside_china_unchanged():
    lon, lat = coords.wgs84_to_gcj02(-0.1276, 51.5072)
    assert (float(lon), float(lat)) == (-0.1276, 51.5072)


def test_unknown_system_is_refused():
    with pytest.raises(ValueError, match="unknown coordinate system"):
        coords.to_wgs84(116.0, 39.0, "wgs72")
