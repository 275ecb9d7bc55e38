"""The walking network built from ``roads`` and walking distances from parks along it.

Graph
    The road centre lines are noded (``shapely.union_all``: every crossing and every shared end
    becomes a node, duplicate segments are dissolved; ``precision_m`` snaps coordinates to a grid
    so ends that meet within it join). Every noded piece is an undirected edge weighted by its
    length in metres. Crossings are treated as walkable junctions (a county has few grade-separated
    footpaths; split such roads in the data if they matter).

Shortest paths
    ``scipy.sparse.csgraph.dijkstra`` from one *super-source* joined to every park entry, with
    ``limit`` = the service radius: one multi-source search per radius tier. Measured by
    ``bench/bench_indicators.py`` against networkx's Dijkstra on the same graph (same distances,
    best of 5 on the loaded 2-core machine): 0.2–0.5 ms per search with scipy on the demo (377
    nodes) and the 10× county (3 274 nodes), networkx's search alone 0.1–18 ms — from 0.3× to
    about 35×, depending on how much of the network the radius reaches. Either is far below 1 %
    of the walking figure, whose cost is the sample grid and the snapping of the samples to the
    streets (kept in the workspace cache between runs, :mod:`civgis.store.cache`). scipy is used
    because it searches from many sources with a distance limit on the sparse matrix the network
    already is, not for a speed that would matter here.

Park entry points (the choice that matters most)
    A park is entered wherever a street edge comes within ``entry_tolerance_m`` of its boundary
    (the centre line of a street along a park runs a few metres outside the boundary). For each
    such edge the stretch inside ``buffer(park, tolerance)`` is an *entry interval*
    ``[a, b]`` in metres along the edge: every point of that stretch is at walking distance 0,
    the edge's start node at ``a`` and its end node at ``L − b``. Points are not snapped to the
    nearest graph node: a park along the middle of a 300 m block is entered mid-block, as people
    walk, and a node 150 m away would understate access by 150 m.

Distance to a place off the network
    A point (a sample of residential land) joins the network at the nearest point of the nearest
    edge; its walking distance is the straight offset to the street plus the distance along the
    network: ``o + min(d(u) + s, d(v) + L − s, distance along the edge to an entry interval)``.

Examples
--------
>>> import shapely
>>> from shapely.geometry import LineString, box
>>> net = build_network([LineString([(0, 0), (200, 0)]), LineString([(100, -100), (100, 100)])])
>>> net.n_nodes, net.n_edges
(5, 4)
>>> park = box(20, 10, 40, 30)            # 10 m north of the east-west street
>>> d = walk_distance(net, [park], shapely.points([[150, 0], [100, 90]]), limit=500, entry_tolerance_m=15)
>>> [round(float(x), 1) for x in d]       # entered up to x = 40 + √(15² − 10²) = 51.18
[98.8, 138.8]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

__all__ = ["StreetNetwork", "build_network", "network_to_arrays", "network_from_arrays", "Snap", "EntryIntervals", "line_intervals", "merge_intervals",
           "park_entries", "node_distances", "distance_on_edges", "walk_distance"]


@dataclass
class StreetNetwork:
    """A noded, undirected street graph in a metric CRS.

    Attributes
    ----------
    node_xy : (n, 2) float array of node coordinates (metres)
    edge_u, edge_v : int arrays, the end nodes of every edge (start and end of its geometry)
    edge_length : float array, metres
    edge_geom : array of shapely LineStrings
    """

    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length: np.ndarray
    edge_geom: np.ndarray
    crs: object = None
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _graph: sp.csr_matrix | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_geom)

    @property
    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.edge_geom)
        return self._tree

    @property
    def graph(self) -> sp.csr_matrix:
        """Symmetric CSR adjacency; parallel edges keep the shortest."""
        if self._graph is None:
            self._graph = _adjacency(self.edge_u, self.edge_v, self.edge_length, self.n_nodes)
        return self._graph

    def snap(self, points, *, max_distance: float) -> "Snap":
        """Where points join the network: the nearest edge within ``max_distance``, the position
        along it and the straight offset (computed once, reused for every radius tier)."""
        points = np.asarray(getattr(points, "geometry", points), dtype=object)
        if self.n_edges == 0 or len(points) == 0:
            e = np.empty(0, np.int64)
            return Snap(len(points), e, e, np.empty(0), np.empty(0))
        (p_idx, e_idx), offset = self.tree.query_nearest(points, max_distance=max_distance, return_distance=True,
                                                         all_matches=False)
        s = shapely.line_locate_point(self.edge_geom[e_idx], points[p_idx])
        return Snap(len(points), p_idx, e_idx, s, offset)

    def to_geodataframe(self):
        import geopandas as gpd

        return gpd.GeoDataFrame({"u": self.edge_u, "v": self.edge_v, "length_m": self.edge_length},
                                geometry=self.edge_geom, crs=self.crs)


def _adjacency(u, v, w, n, extra_rows=0) -> sp.csr_matrix:
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    rows = np.r_[u, v]
    cols = np.r_[v, u]
    vals = np.r_[w, w]
    # parallel edges: sort by (row, col, weight) and keep the first, the shortest
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    size = n + extra_rows
    return sp.csr_matrix((vals[first], (rows[first], cols[first])), shape=(size, size))


def build_network(roads, *, precision_m: float = 0.01) -> StreetNetwork:
    """Node the road centre lines and build the street graph.

    Parameters
    ----------
    roads : GeoDataFrame, GeoSeries or sequence of (Multi)LineStrings, in a metric CRS
    precision_m : float
        Coordinates are snapped to this grid before noding (ends closer than it join).

    Returns
    -------
    StreetNetwork
    """
    crs = getattr(roads, "crs", None)
    geoms = np.asarray(getattr(roads, "geometry", roads), dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) == 0:
        empty = np.empty(0, dtype=np.int64)
        return StreetNetwork(np.empty((0, 2)), empty, empty, np.empty(0), np.empty(0, dtype=object), crs)
    noded = shapely.union_all(shapely.get_parts(geoms), grid_size=precision_m)
    edges = shapely.get_parts(noded)
    edges = edges[shapely.get_type_id(edges) == 1]
    edges = edges[shapely.length(edges) > 0]
    start = shapely.get_coordinates(shapely.get_point(edges, 0))
    end = shapely.get_coordinates(shapely.get_point(edges, -1))
    ends = np.round(np.r_[start, end] / precision_m).astype(np.int64)
    uniq, inverse = np.unique(ends, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(edges)
    return StreetNetwork(node_xy=uniq * precision_m, edge_u=inverse[:n], edge_v=inverse[n:],
                         edge_length=shapely.length(edges), edge_geom=edges, crs=crs)


def network_to_arrays(network: StreetNetwork) -> dict[str, np.ndarray]:
    """The network as plain arrays (for :mod:`civgis.store.cache`); :func:`network_from_arrays` inverts it exactly."""
    _, coords, (offsets,) = shapely.to_ragged_array(network.edge_geom) if network.n_edges else (None, np.empty((0, 2)),
                                                                                                 (np.zeros(1, np.int64),))
    return {"node_xy": network.node_xy, "edge_u": network.edge_u, "edge_v": network.edge_v,
            "edge_length": network.edge_length, "edge_coords": coords, "edge_offsets": offsets}


def network_from_arrays(arrays: dict[str, np.ndarray], crs=None) -> StreetNetwork:
    """Rebuild a :class:`StreetNetwork` from :func:`network_to_arrays` (same coordinates, bit for bit)."""
    n = len(arrays["edge_u"])
    geoms = (shapely.from_ragged_array(shapely.GeometryType.LINESTRING, arrays["edge_coords"],
                                       (arrays["edge_offsets"],)) if n else np.empty(0, dtype=object))
    return StreetNetwork(node_xy=arrays["node_xy"], edge_u=arrays["edge_u"], edge_v=arrays["edge_v"],
                         edge_length=arrays["edge_length"], edge_geom=np.asarray(geoms, dtype=object), crs=crs)


@dataclass
class Snap:
    """Points joined to the network: point ``point[i]`` joins edge ``edge[i]`` at ``s[i]`` metres
    along it, ``offset[i]`` metres from the point (points with no edge in reach are absent)."""

    n_points: int
    point: np.ndarray
    edge: np.ndarray
    s: np.ndarray
    offset: np.ndarray


@dataclass
class EntryIntervals:
    """Stretches of edges at walking distance 0 from a set of parks (merged per edge, sorted)."""

    edge: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


def line_intervals(lines: np.ndarray, pieces: np.ndarray, owner: np.ndarray):
    """Linear-reference intervals ``[a, b]`` (metres along ``lines[owner]``) of connected line pieces.

    ``pieces[i]`` is a (Multi)LineString lying on the single LineString ``lines[owner[i]]`` (e.g.
    its intersection with a polygon); every connected part is one interval. Returns
    ``(owner_of_part, a, b)``.

    A part of length ``ℓ`` whose midpoint lies at ``m`` along its line covers ``[m − ℓ/2, m + ℓ/2]``
    (the midpoint is ``ℓ/2`` from either end, whichever way the part runs). Locating the two
    ends instead fails on a closed line, where the start and the end are the same point. On a
    closed line of length ``L`` an interval running past either end wraps round: ``[−5, 20]``
    becomes ``[0, 20]`` and ``[L − 5, L]``. On an open line intervals are clipped to ``[0, L]``.
    """
    parts, idx = shapely.get_parts(pieces, return_index=True)
    nested = np.isin(shapely.get_type_id(parts), (5, 7))  # a MultiLineString inside a GeometryCollection
    if nested.any():
        inner, j = shapely.get_parts(parts[nested], return_index=True)
        parts = np.r_[parts[~nested], inner]
        idx = np.r_[idx[~nested], idx[nested][j]]
    keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
    parts, idx = parts[keep], idx[keep]
    own = np.asarray(owner)[idx]
    base = np.asarray(lines, dtype=object)[own]
    half = shapely.length(parts) / 2.0
    mid = shapely.line_locate_point(base, shapely.line_interpolate_point(parts, 0.5, normalized=True))
    a, b = mid - half, mid + half
    L = shapely.length(base)
    closed = shapely.is_closed(base) if len(base) else np.zeros(0, bool)
    low = closed & (a < 0)          # wraps past the start: the rest lies at the end of the line
    high = closed & (b > L)         # wraps past the end: the rest lies at the start
    extra_own = np.r_[own[low], own[high]]
    extra_a = np.r_[L[low] + a[low], np.zeros(int(high.sum()))]
    extra_b = np.r_[L[low], b[high] - L[high]]
    own, a, b, L = np.r_[own, extra_own], np.r_[a, extra_a], np.r_[b, extra_b], np.r_[L, L[low], L[high]]
    return own, np.clip(a, 0.0, L), np.clip(b, 0.0, L)


def merge_intervals(key: np.ndarray, a: np.ndarray, b: np.ndarray, *, span: float):
    """Union of intervals per key: sorted, disjoint ``(key, a, b)`` (``span`` > any position)."""
    key = np.asarray(key, dtype=np.int64)
    if len(key) == 0:
        return key, np.asarray(a, float), np.asarray(b, float)
    S = key * span + a
    E = key * span + b
    order = np.argsort(S, kind="stable")
    S, E, key = S[order], E[order], key[order]
    runmax = np.maximum.accumulate(E)
    new = np.r_[True, S[1:] > runmax[:-1]]
    starts = np.flatnonzero(new)
    merged_E = np.maximum.reduceat(E, starts)
    k = key[starts]
    return k, S[starts] - k * span, merged_E - k * span


def park_entries(network: StreetNetwork, parks, *, entry_tolerance_m: float = 20.0) -> EntryIntervals:
    """Entry intervals of the parks on the street edges (see the module notes)."""
    parks = np.asarray(getattr(parks, "geometry", parks), dtype=object)
    if network.n_edges == 0 or len(parks) == 0:
        return EntryIntervals(np.empty(0, np.int64), np.empty(0), np.empty(0))
    zone = shapely.buffer(parks, entry_tolerance_m, quad_segs=16) if entry_tolerance_m > 0 else parks
    p_idx, e_idx = network.tree.query(zone, predicate="intersects")
    pieces = shapely.intersection(network.edge_geom[e_idx], zone[p_idx])
    # a piece that is a point (touching) has no line parts: use its location directly
    pts = shapely.get_type_id(pieces) == 0
    edge, a, b = line_intervals(network.edge_geom, pieces[~pts], e_idx[~pts])
    if pts.any():
        s = shapely.line_locate_point(network.edge_geom[e_idx[pts]], pieces[pts])
        edge, a, b = np.r_[edge, e_idx[pts]], np.r_[a, s], np.r_[b, s]
    span = float(network.edge_length.max()) + 1.0
    return EntryIntervals(*merge_intervals(edge, a, b, span=span))


def node_distances(network: StreetNetwork, entries: EntryIntervals, *, limit: float = np.inf) -> np.ndarray:
    """Walking distance (m) from the nearest entry to every node; ``inf`` beyond ``limit``.

    One ``scipy.sparse.csgraph.dijkstra`` from a super-source joined to both ends of every edge
    carrying an entry interval (weights ``a`` and ``L − b``, the smallest per node).
    """
    n = network.n_nodes
    if len(entries) == 0 or n == 0:
        return np.full(n, np.inf)
    L = network.edge_length[entries.edge]
    src_nodes = np.r_[network.edge_u[entries.edge], network.edge_v[entries.edge]]
    src_cost = np.r_[entries.a, L - entries.b]
    # one super-source edge per node, with the smallest cost (a sparse matrix would sum duplicates);
    # zero costs stay edges: csgraph treats explicit zeros of a sparse matrix as zero-weight edges
    cost = np.full(n, np.inf)
    np.minimum.at(cost, src_nodes, np.maximum(src_cost, 0.0))
    nodes = np.flatnonzero(np.isfinite(cost))
    A = network.graph.tocoo()
    rows = np.r_[A.row, np.full(len(nodes), n)]
    cols = np.r_[A.col, nodes]
    G = sp.csr_matrix((np.r_[A.data, cost[nodes]], (rows, cols)), shape=(n + 1, n + 1))
    dist = dijkstra(G, directed=True, indices=n, limit=limit)
    return dist[:n]


def distance_on_edges(network: StreetNetwork, node_dist: np.ndarray, entries: EntryIntervals,
                      edge: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Walking distance to points at position ``s`` (m) along edges ``edge``."""
    edge = np.asarray(edge, dtype=np.int64)
    s = np.asarray(s, dtype=float)
    L = network.edge_length[edge]
    d = np.minimum(node_dist[network.edge_u[edge]] + s, node_dist[network.edge_v[edge]] + (L - s))
    if len(entries) and len(edge):
        span = float(network.edge_length.max()) + 1.0
        S = entries.edge * span + entries.a
        Q = edge * span + s
        k = np.searchsorted(S, Q, side="right") - 1
        before = (k >= 0) & (entries.edge[np.clip(k, 0, None)] == edge)
        kb = np.clip(k, 0, len(entries) - 1)
        d = np.where(before, np.minimum(d, np.maximum(s - entries.b[kb], 0.0)), d)
        k2 = np.clip(k + 1, 0, len(entries) - 1)
        after = (k + 1 < len(entries)) & (entries.edge[k2] == edge)
        d = np.where(after, np.minimum(d, entries.a[k2] - s), d)
    return d


def walk_distance(network: StreetNetwork, parks, points, *, limit: float, entry_tolerance_m: float = 20.0,
                  snap: Snap | None = None) -> np.ndarray:
    """Walking distance (m) from the nearest of ``parks`` to each point; ``inf`` when over ``limit``.

    Parameters
    ----------
    network : StreetNetwork
    parks : polygons (array, GeoSeries or GeoDataFrame) in the network's CRS
    points : shapely Points, or None with ``snap`` (then only their number, ``snap.n_points``, is needed)
    limit : float
        The service radius in metres; longer walks are reported as ``inf``.
    entry_tolerance_m : float
        A street edge within this distance of a park boundary gives access to it.
    snap : Snap, optional
        ``network.snap(points, max_distance=…)`` computed once for several calls.

    Returns
    -------
    numpy.ndarray of float, one per point:
    ``offset to the nearest street + network distance`` (see the module notes).
    """
    if points is None and snap is None:
        raise ValueError("walk_distance needs the points or their snap")
    if points is not None:
        points = np.asarray(getattr(points, "geometry", points), dtype=object)
    out = np.full(len(points) if points is not None else snap.n_points, np.inf)
    if network.n_edges == 0 or len(out) == 0:
        return out
    entries = park_entries(network, parks, entry_tolerance_m=entry_tolerance_m)
    if len(entries) == 0:
        return out
    node_dist = node_distances(network, entries, limit=limit)
    snap = snap if snap is not None else network.snap(points, max_distance=limit)
    if len(snap.point) == 0:
        return out
    d = snap.offset + distance_on_edges(network, node_dist, entries, snap.edge, snap.s)
    d[d > limit] = np.inf
    out[snap.point] = d
    return out
