"""One parameters object from the targets file: the same numbers as before, read by every consumer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import shape

from civgis.analysis import greening, indicators
from civgis.render import webmap
from civgis.store.targets import Parameters, TargetsError, default_parameters, load_targets, workspace_targets_path

from test_webmap import geojson_layers, make_ws

GEOD = Geod(ellps="WGS84")


def test_parameters_keep_the_numbers():
    p = default_parameters()
    assert (p.lamp_reach_m, p.lamp_snap_m, p.toilet_radius_m) == (25.0, 40.0, 300.0)
    assert p.park_tiers == ((5000.0, 500.0), (1000.0, 300.0))
    assert (p.park_entry_tolerance_m, p.walk_cell_m) == (20.0, 20.0)
    assert p.green_space_categories == ("G1", "G2", "G3", "XG") and p.park_categories == ("G1",)
    # the analyses' module constants are the file's values, not copies of their own
    assert indicators.PARK_TIERS == p.park_tiers and indicators.GREEN_SPACE_CATEGORIES == p.green_space_categories
    assert not hasattr(indicators, "DEFAULTS") and not hasattr(greening, "DEFAULT_TIERS")
    assert not hasattr(greening, "DEFAULT_TARGETS")


def test_greening_targets_are_percent_like_the_indicator_table():
    t = greening.greening_targets()
    assert t == {"green_ratio": 31.0, "park_per_capita_m2": 8.0, "service_coverage_land": 80.0,
                 "service_coverage_residents": 80.0}
    assert t["green_ratio"] == load_targets().get("green_space_ratio").target


def test_missing_parameter_names_the_file_and_key():
    raw = dict(default_parameters().to_dict())
    del raw["walk_cell_m"]
    with pytest.raises(TargetsError, match="walk_cell_m"):
        Parameters.from_mapping(raw, "county.targets.toml")


def ring_area(m, radius: int) -> float:
    ring = geojson_layers(m)[f"公厕服务半径（{radius} 米）"].data["features"][0]["geometry"]
    lon, lat = np.asarray(shape(ring).exterior.coords).T
    return abs(GEOD.polygon_area_perimeter(lon, lat)[0])


def test_web_map_toilet_radius_reads_the_workspace_targets(tmp_path):
    ws = make_ws(tmp_path)
    assert ring_area(webmap.county_map(ws), 300) == pytest.approx(math.pi * 300**2, rel=0.01)
    workspace_targets_path(ws).write_text("[parameters]\ntoilet_radius_m = 250.0\n", encoding="utf-8")
    assert load_targets(ws=ws).params.toilet_radius_m == 250.0
    # the ring on the map and the indicator use the same radius (geodesic area of the drawn ring)
    assert ring_area(webmap.county_map(ws), 250) == pytest.approx(math.pi * 250**2, rel=0.01)
    assert ring_area(webmap.zone_map(ws, "Z1"), 250) == pytest.approx(math.pi * 250**2, rel=0.01)
