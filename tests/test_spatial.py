"""civgis.analysis.spatial.query_pairs gives shapely's own predicate query's pairs (the oracle)."""

import numpy as np
import pytest
import shapely

from civgis.analysis.spatial import query_pairs


def _pairs(a, b):
    return sorted(zip(a.tolist(), b.tolist()))


@pytest.mark.parametrize("predicate", ["intersects", "within"])
def test_query_pairs_equal_shapely_strtree_query(predicate):
    rng = np.random.default_rng(7)
    # overlapping squares and stars (concave), points on a lattice so many sit exactly on borders
    squares = shapely.box(*(rng.integers(0, 80, (40, 2)).T), *(rng.integers(0, 80, (40, 2)).T + 20))
    stars = shapely.buffer(shapely.points(rng.uniform(0, 100, (10, 2))), 8, quad_segs=2)
    polygons = np.r_[squares, stars]
    points = shapely.points(rng.integers(0, 100, (3000, 2)).astype(float))
    lines = shapely.linestrings(rng.uniform(0, 100, (300, 2, 2)))
    for geoms in (points, lines, np.r_[points[:10], [None], lines[:10]]):
        expected = shapely.STRtree(polygons).query(geoms, predicate=predicate)
        got = query_pairs(polygons.copy(), geoms, predicate=predicate)
        assert _pairs(*got) == _pairs(*expected) and len(got[0]) > 0


def test_query_pairs_of_nothing_and_a_wrong_predicate():
    zones = np.array([shapely.box(0, 0, 1, 1)])
    assert [len(a) for a in query_pairs(zones, np.array([], dtype=object))] == [0, 0]
    with pytest.raises(ValueError, match="predicate"):
        query_pairs(zones, zones, predicate="touches")
