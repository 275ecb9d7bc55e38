"""The walking network: noding, shortest paths and park entry points, against distances worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, box

from civgis.analysis import network as net


def test_crossing_roads_are_noded_at_the_intersection():
    n = net.build_network([LineString([(0, 0), (200, 0)]), LineString([(100, -100), (100, 100)])])
    assert (n.n_nodes, n.n_edges) == (5, 4)
    assert sorted(n.edge_length.tolist()) == [100.0] * 4
    assert any(np.allclose(xy, (100, 0)) for xy in n.node_xy)


def test_a_road_ending_on_another_splits_it_and_shared_ends_join():
    n = net.build_network([LineString([(0, 0), (300, 0)]), LineString([(120, 0), (120, 80)]),
                           LineString([(300, 0), (300, 50)])])
    assert (n.n_nodes, n.n_edges) == (5, 4)           # (0,0) (120,0) (300,0) (120,80) (300,50)
    assert sorted(n.edge_length.tolist()) == [50.0, 80.0, 120.0, 180.0]


def _grid():
    # a 3 × 3 street grid, 100 m blocks: x = 0, 100, 200 and y = 0, 100, 200
    lines = [LineString([(0, y), (200, y)]) for y in (0, 100, 200)]
    lines += [LineString([(x, 0), (x, 200)]) for x in (0, 100, 200)]
    return net.build_network(lines)


def test_node_distances_from_a_park_at_a_corner():
    n = _grid()
    assert (n.n_nodes, n.n_edges) == (9, 12)
    park = box(-30, -30, 0, 0)                           # touches the south-west corner node
    entries = net.park_entries(n, [park], entry_tolerance_m=0)
    d = net.node_distances(n, entries)
    expected = np.abs(n.node_xy).sum(axis=1)             # the Manhattan distance from (0, 0)
    assert d == pytest.approx(expected, abs=1e-6)
    # 10 m tolerance: the street within 10 m of the corner (−5, −5) reaches x = −5 + √75 ≈ 3.66
    d10 = net.node_distances(n, net.park_entries(n, [park.buffer(-5, join_style="mitre")], entry_tolerance_m=10))
    shift = math.sqrt(75) - 5
    assert d10 == pytest.approx(np.maximum(expected - shift, 0), abs=0.03)  # 0.03 m: the buffer is a 64-gon
    d_lim = net.node_distances(n, entries, limit=150)
    assert np.isinf(d_lim[expected > 150]).all() and d_lim[expected <= 150] == pytest.approx(expected[expected <= 150])


def test_a_park_along_a_block_is_entered_mid_block_not_at_the_nearest_node():
    n = net.build_network([LineString([(0, 0), (400, 0)])])
    park = box(150, 10, 250, 60)                          # 10 m north of the street's middle
    entries = net.park_entries(n, [park], entry_tolerance_m=15)
    half = math.sqrt(15**2 - 10**2)                      # the street is within 15 m for x ∈ [150 − 11.18, 250 + 11.18]
    # (the tolerance buffer is a polygon of 64 sides: its arcs are short of the circle by < 0.05 m here)
    assert (entries.a[0], entries.b[0]) == pytest.approx((150 - half, 250 + half), abs=0.05)
    pts = shapely.points([[200, -5], [400, 0], [20, -30]])
    d = net.walk_distance(n, [park], pts, limit=1000, entry_tolerance_m=15)
    assert d == pytest.approx([5.0, 400 - 250 - half, 30 + (150 - half) - 20], abs=0.05)
    # the nearest graph node to the park is (0, 0) or (400, 0), 150+ m from it: the edge entry matters
    assert d[0] < 10


def test_walk_limit_and_unreachable_components():
    n = net.build_network([LineString([(0, 0), (100, 0)]), LineString([(1000, 0), (1100, 0)])])
    park = box(-20, -10, -2, 10)
    pts = shapely.points([[90, 0], [1050, 0], [60, 0], [50, 900]])
    d = net.walk_distance(n, [park], pts, limit=70, entry_tolerance_m=5)
    assert d[2] == pytest.approx(57.0, abs=1e-6)          # the street is within 5 m of the park up to x = 3
    assert np.isinf(d[0]) and np.isinf(d[1]) and np.isinf(d[3])   # too far / other component / no street near


def test_parallel_edges_keep_the_shortest():
    n = net.build_network([LineString([(0, 0), (100, 0)]), LineString([(0, 0), (50, 60), (100, 0)])])
    assert n.n_edges == 2 and n.n_nodes == 2
    assert n.graph[0, 1] == pytest.approx(100.0) and n.graph[1, 0] == pytest.approx(100.0)


def test_a_park_touching_a_street_at_one_point():
    n = net.build_network([LineString([(0, 0), (100, 0)])])
    park = shapely.Polygon([(40, 0), (60, 20), (20, 20)])   # touches the street at (40, 0)
    entries = net.park_entries(n, [park], entry_tolerance_m=0)
    assert (entries.edge.tolist(), entries.a.tolist(), entries.b.tolist()) == ([0], [40.0], [40.0])
    d = net.walk_distance(n, [park], shapely.points([[100, 0]]), limit=500, entry_tolerance_m=0)
    assert d[0] == pytest.approx(60.0)


def test_merge_intervals_and_line_intervals():
    key, a, b = net.merge_intervals(np.array([1, 0, 1, 1]), np.array([5.0, 0, 0, 20]), np.array([8.0, 3, 6, 30]),
                                    span=100.0)
    assert key.tolist() == [0, 1, 1] and a.tolist() == [0, 0, 20] and b.tolist() == [3, 8, 30]
    line = LineString([(0, 0), (100, 0), (100, 100)])
    piece = shapely.intersection(line, box(50, -10, 110, 30))          # from x = 50 round the corner to y = 30
    own, a, b = net.line_intervals(np.array([line]), np.array([piece]), np.array([0]))
    assert (own.tolist(), a.tolist(), b.tolist()) == ([0], [50.0], [130.0])


def test_a_node_reached_from_two_entries_takes_the_nearer_one():
    n = net.build_network([LineString([(0, 0), (100, 0)]), LineString([(100, 0), (200, 0)])])
    parks = [shapely.Polygon([(60, 0), (70, 10), (50, 10)]),      # touches at x = 60: 40 m from (100, 0)
             shapely.Polygon([(130, 0), (140, 10), (120, 10)])]   # touches at x = 130: 30 m from it
    d = net.node_distances(n, net.park_entries(n, parks, entry_tolerance_m=0))
    by_x = dict(zip(n.node_xy[:, 0].round().tolist(), d.tolist()))
    assert by_x == pytest.approx({0.0: 60.0, 100.0: 30.0, 200.0: 70.0})


def test_line_intervals_reach_into_nested_collections():
    line = LineString([(0, 0), (100, 0)])
    nested = shapely.GeometryCollection([shapely.MultiLineString([[(10, 0), (20, 0)], [(50, 0), (70, 0)]]),
                                         shapely.Point(90, 0)])
    own, a, b = net.line_intervals(np.array([line]), np.array([nested]), np.array([0]))
    assert (own.tolist(), a.tolist(), b.tolist()) == ([0, 0], [10.0, 50.0], [20.0, 70.0])
