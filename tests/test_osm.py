"""OSM import: a real .osm.pbf written with osmium, read through GDAL's OSM driver.

The fixture is laid out in EPSG:4527 (CGCS2000 Gauss-Krüger zone 39, central meridian 117°E)
at round metre coordinates, so every length and area below is known by hand.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import box

from civgis.store.osm import import_osm, parse_width, read_osm

X0, Y0 = 500_000.0, 3_500_000.0  # metres in EPSG:4527 (easting without the zone prefix 39, see _lonlat)
TO_LONLAT = Transformer.from_crs(4527, 4326, always_xy=True)


def _lonlat(x, y):
    # EPSG:4527 eastings carry the zone prefix 39
    lon, lat = TO_LONLAT.transform(39_000_000 + X0 + x, Y0 + y)
    return float(lon), float(lat)


class _Builder:
    def __init__(self):
        self.nodes, self.ways, self.relations = [], [], []
        self._next = 1000

    def node(self, x, y, tags=None, nid=None):
        if nid is None:
            self._next += 1
            nid = self._next
        self.nodes.append((nid, _lonlat(x, y), tags or {}))
        return nid

    def line(self, wid, coords, tags):
        self.ways.append((wid, [self.node(x, y) for x, y in coords], tags))

    def ring(self, wid, x0, y0, x1, y1, tags=None):
        ids = [self.node(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        self.ways.append((wid, ids + [ids[0]], tags or {}))

    def write(self, path):
        import osmium
        from osmium.osm.mutable import Node, Relation, Way

        writer = osmium.SimpleWriter(str(path))
        try:
            for nid, loc, tags in sorted(self.nodes):
                writer.add_node(Node(id=nid, location=loc, tags=tags, version=1))
            for wid, refs, tags in sorted(self.ways):
                writer.add_way(Way(id=wid, nodes=refs, tags=tags, version=1))
            for rid, members, tags in self.relations:
                writer.add_relation(Relation(id=rid, members=members, tags=tags, version=1))
        finally:
            writer.close()


@pytest.fixture(scope="module")
def pbf(tmp_path_factory):
    b = _Builder()
    # roads: straight east-west lines, lengths by construction
    b.line(101, [(0, 0), (200, 0), (400, 0)], {"highway": "primary", "name": "People Road", "name:zh": "人民路"})
    b.line(102, [(0, 100), (300, 100)], {"highway": "trunk", "name": "G205"})
    b.line(103, [(0, 200), (250, 200)], {"highway": "tertiary", "name": "建设路", "width": "12 m"})
    b.line(104, [(0, 300), (150, 300)], {"highway": "residential", "name": "幸福巷", "width": "wide"})
    b.line(105, [(0, 400), (120, 400)], {"highway": "pedestrian", "name": "步行街"})
    b.line(106, [(0, 500), (80, 500)], {"highway": "residential", "name": "文化商业街"})
    b.line(107, [(0, 600), (60, 600)], {"highway": "service"})
    b.line(108, [(0, 650), (40, 650)], {"highway": "service", "service": "parking_aisle"})
    b.line(109, [(0, 680), (40, 680)], {"highway": "footway", "footway": "sidewalk"})
    b.line(110, [(0, 700), (50, 700)], {"highway": "footway"})
    b.line(111, [(0, 800), (500, 800)], {"highway": "motorway"})
    b.line(112, [(0, 900), (70, 900)], {"highway": "path"})
    b.line(113, [(0, 950), (90, 950)], {"highway": "secondary", "shop": "yes", "width": "7,5"})
    # a park as a multipolygon relation with a hole: 200 × 200 minus 50 × 50
    b.ring(301, 1000, 0, 1200, 200)
    b.ring(302, 1100, 100, 1150, 150)
    b.relations.append((201, [("w", 301, "outer"), ("w", 302, "inner")],
                        {"type": "multipolygon", "leisure": "park", "name": "人民公园"}))
    b.ring(303, 1010, 10, 1030, 30, {"landuse": "grass"})                       # lawn inside the park
    b.ring(304, 1300, 0, 1350, 40, {"leisure": "park", "name": "街角游园"})       # 2 000 m²
    b.ring(305, 1500, 0, 1900, 300, {"leisure": "park", "name": "滨河公园"})      # 12 ha
    b.ring(306, 2000, 0, 2100, 100, {"landuse": "forest"})                      # 1 ha
    b.ring(307, 2200, 0, 2230, 30, {"landuse": "grass"})                        # 900 m²
    b.ring(308, 2300, 0, 2320, 20, {"leisure": "garden", "access": "private"})  # 400 m²
    b.ring(309, 2400, 0, 2600, 200, {"landuse": "residential", "name": "幸福小区"})
    b.ring(310, 2700, 0, 2720, 20, {"leisure": "playground"})
    b.node(2800, 0, {"leisure": "park", "name": "点状公园"}, nid=50)
    # lamps
    for i in range(5):
        b.node(10 + 50 * i, 5, {"highway": "street_lamp"}, nid=1 + i)
    # toilets
    b.node(3000, 0, {"amenity": "toilets", "wheelchair": "yes", "name": "一号公厕"}, nid=60)
    b.node(3105, 5, {"amenity": "toilets", "wheelchair": "no"}, nid=61)
    b.node(3200, 0, {"amenity": "toilets", "access": "private"}, nid=62)
    b.node(3300, 0, {"amenity": "toilets", "toilets:wheelchair": "yes"}, nid=63)
    b.ring(320, 3400, 0, 3410, 10, {"amenity": "toilets", "building": "yes", "name": "二号公厕"})
    b.ring(321, 3100, 0, 3110, 10, {"amenity": "toilets", "building": "yes"})  # holds node 61
    path = tmp_path_factory.mktemp("osm") / "town.osm.pbf"
    b.write(path)
    return path


@pytest.fixture(scope="module")
def result(pbf):
    return read_osm(pbf)


def _report(result, tag, layer):
    r = result.report
    return r[(r.osm_tag == tag) & (r.layer == layer)].set_index("value")["count"].to_dict()


def test_roads_classes_ids_names_widths(result):
    roads = result.layers["roads"].set_index("road_id")
    assert roads.crs.to_epsg() == 4326
    assert sorted(roads.index) == ["w101", "w102", "w103", "w104", "w105", "w106", "w107", "w110", "w113"]
    assert roads.road_class.to_dict() == {
        "w101": "arterial", "w102": "arterial", "w103": "secondary", "w104": "branch", "w105": "commercial",
        "w106": "commercial", "w107": "alley", "w110": "alley", "w113": "commercial"}
    assert roads.name["w101"] == "人民路"  # name:zh wins over name
    assert roads.name["w102"] == "G205"
    assert pd.isna(roads.name["w107"])
    assert roads.width_m["w103"] == 12.0 and roads.width_m["w113"] == 7.5
    assert roads.width_m[["w101", "w104"]].isna().all()


def test_road_lengths_in_metres(result):
    roads = result.layers["roads"].set_index("road_id").to_crs(4527)
    expected = {"w101": 400, "w102": 300, "w103": 250, "w104": 150, "w105": 120, "w106": 80, "w107": 60,
                "w110": 50, "w113": 90}
    for rid, length in expected.items():
        assert roads.length[rid] == pytest.approx(length, abs=0.05), rid
    by_class = roads.length.groupby(roads.road_class).sum()
    assert by_class["arterial"] == pytest.approx(700, abs=0.1)
    assert by_class["commercial"] == pytest.approx(120 + 80 + 90, abs=0.1)
    assert by_class["alley"] == pytest.approx(110, abs=0.1)


def test_road_report_rows(result):
    assert _report(result, "highway=primary", "roads") == {"arterial": 1}
    assert _report(result, "highway=trunk", "roads") == {"arterial": 1}
    assert _report(result, "highway=pedestrian", "roads") == {"commercial": 1}
    assert _report(result, "highway=residential + 名称含步行街/商业街", "roads") == {"commercial": 1}
    assert _report(result, "highway=secondary + shop=*", "roads") == {"commercial": 1}
    assert _report(result, "highway=service", "roads") == {"alley": 1}
    skipped = result.report[result.report.layer == "skipped"].set_index("osm_tag")["count"]
    assert skipped["highway=motorway"] == 1
    assert skipped["highway=path"] == 1
    assert skipped["highway=service + service=parking_aisle"] == 1
    assert skipped["highway=footway + footway=sidewalk"] == 1
    reason = result.report.set_index("osm_tag").loc["highway=motorway", "value"]
    assert "expressway" in reason


def test_green_classes_areas_and_hole(result):
    green = result.layers["green"].set_index("green_id").to_crs(4527)
    # the lawn w303 lies inside the park: dropped; residential/playground are not green
    assert sorted(green.index) == ["r201", "w304", "w305", "w306", "w307", "w308"]
    assert green.category.to_dict() == {"r201": "G1", "w304": "G1", "w305": "G1", "w306": "G2", "w307": "XG",
                                        "w308": "XG"}
    assert green.subcategory["r201"] == "G12" and green.subcategory["w304"] == "G14"
    assert green.subcategory["w305"] == "G11" and pd.isna(green.subcategory["w306"])
    assert green.name["r201"] == "人民公园"
    areas = green.area
    assert areas["r201"] == pytest.approx(200 * 200 - 50 * 50, rel=1e-3)  # the hole is not park
    assert areas["w304"] == pytest.approx(2000, rel=1e-3)
    assert areas["w305"] == pytest.approx(120_000, rel=1e-3)
    assert areas["w306"] == pytest.approx(10_000, rel=1e-3)
    assert len(green.geometry["r201"].geoms[0].interiors) == 1


def test_green_and_residential_report(result):
    assert _report(result, "leisure=park (1–10 ha)", "green") == {"G1/G12": 1}
    assert _report(result, "leisure=park (<1 ha)", "green") == {"G1/G14": 1}
    assert _report(result, "leisure=park (≥10 ha)", "green") == {"G1/G11": 1}
    assert _report(result, "landuse=forest", "green") == {"G2": 1}
    assert _report(result, "landuse=grass", "green") == {"XG": 1}
    assert _report(result, "leisure=garden + access=private", "green") == {"XG": 1}
    skipped = result.report[result.report.layer == "skipped"].set_index("osm_tag")
    assert skipped.loc["landuse=grass", "count"] == 1 and "inside higher-ranked" in skipped.loc["landuse=grass", "value"]
    assert skipped.loc["landuse=residential", "count"] == 1
    assert "population" in skipped.loc["landuse=residential", "value"]
    assert skipped.loc["leisure=playground", "count"] == 1
    assert skipped.loc["leisure=park (node)", "count"] == 1
    assert "residential" not in result.layers


def test_lamps_and_toilets(result):
    lamps = result.layers["lamps"]
    assert sorted(lamps.lamp_id) == ["n1", "n2", "n3", "n4", "n5"]
    assert set(lamps.status) == {"unknown"}
    assert _report(result, "highway=street_lamp", "lamps") == {"status=unknown": 5}
    toilets = result.layers["toilets"].set_index("toilet_id")
    assert sorted(toilets.index) == ["n60", "n61", "n63", "w320"]
    assert toilets.accessible["n60"] and toilets.accessible["n63"]
    assert not toilets.accessible["n61"]
    assert pd.isna(toilets.accessible["w320"])
    assert toilets.name["w320"] == "二号公厕"
    # the building's point lies inside the 10 × 10 building
    pt = toilets.to_crs(4527).geometry["w320"]
    assert 39_000_000 + X0 + 3400 < pt.x < 39_000_000 + X0 + 3410 and Y0 < pt.y < Y0 + 10
    assert _report(result, "amenity=toilets (node)", "toilets") == {"accessible=True": 2, "accessible=False": 1}
    skipped = result.report[result.report.layer == "skipped"].set_index("osm_tag")["count"]
    assert skipped["amenity=toilets (node) + access=private"] == 1
    assert skipped["amenity=toilets (area)"] == 1  # w321 holds node 61


def test_parse_width():
    got = parse_width(pd.Series(["7", "7.5 m", "3,5", "10 ft", "0.2", "200", None, "12米"]))
    np.testing.assert_array_equal(got.to_numpy(), [7.0, 7.5, 3.5, np.nan, np.nan, np.nan, np.nan, 12.0])


def test_import_into_new_workspace(pbf, tmp_path):
    from civgis.store.workspace import Workspace

    result = import_osm(tmp_path / "town.gpkg", pbf)
    ws = Workspace(tmp_path / "town.gpkg")
    assert ws.crs.to_epsg() == 4527  # Gauss-Krüger zone 39 chosen from the extract's centre
    assert result.crs == "EPSG:4527"
    assert set(ws.layers()) == {"roads", "green", "lamps", "toilets"}
    roads = ws.read("roads").set_index("road_id")
    assert roads.length["w101"] == pytest.approx(400, abs=0.05)
    assert roads.length.sum() == pytest.approx(400 + 300 + 250 + 150 + 120 + 80 + 60 + 50 + 90, abs=0.5)
    assert roads.width_m["w103"] == 12.0
    green = ws.read("green").set_index("green_id")
    assert green.area["r201"] == pytest.approx(37_500, rel=1e-3)
    toilets = ws.read("toilets").set_index("toilet_id")
    assert toilets.accessible.dtype == "boolean" and pd.isna(toilets.accessible["w320"])
    assert [r.layer for r in result.imports] == ["roads", "green", "lamps", "toilets"]
    assert all(e["source"] == "OpenStreetMap town.osm.pbf" for e in ws.log())


def test_import_clips_to_built_up_extent_and_selected_layers(pbf, tmp_path):
    from civgis.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws.gpkg", crs=4527)
    x, y = 39_000_000 + X0, Y0
    ws.write("built_up", gpd.GeoDataFrame({"name": ["城区"]}, geometry=[box(x - 4800, y - 500, x - 4600, y)],
                                           crs=4527))
    # built-up + 5 km margin ends at x0 + 400 m: the roads (from x0) are in, the toilets (x0 + 3 km) out
    result = import_osm(ws, pbf, layers=["roads", "toilets"])
    assert set(ws.layers()) == {"built_up", "roads"}
    assert len(ws.read("roads")) == 9
    assert "toilets" not in result.layers
    row = result.report[result.report.value.str.startswith("toilets:")]
    assert row["count"].tolist() == [4]


def test_cli_prints_chinese_report(pbf, tmp_path, capsys):
    from civgis.cli import main

    code = main(["import-osm", str(tmp_path / "cli.gpkg"), str(pbf), "--layers", "roads,lamps"])
    out = capsys.readouterr().out
    assert code == 0
    assert "主干道" in out and "路灯" in out and "跳过" in out
    assert "道路" in out and "9" in out
    code = main(["import-osm", str(tmp_path / "cli.gpkg"), str(pbf), "--layers", "parks"])
    assert code != 0
