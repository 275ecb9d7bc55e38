"""The demo county's town plan (示范县): roads, lots, zones, green land, residential land, the warp.

:func:`generate_demo_files` writes the files a bureau would really bring — a GBK shapefile
without ``.cpg``, a GBK CSV of lamps in GCJ-02 (高德) coordinates, an Excel sheet of toilets
in BD-09 (百度) coordinates, GeoPackages in CGCS2000 geographic and Gauss-Krüger CRSs, GeoJSON,
a canopy GeoTIFF — plus ``manifest.json``: the import options of every file and the *planted
facts* (responsibility-zone gaps and overlaps, unlit road stretches, inspection hot spots, a
growing hot spot and its start, a park-less district, counts) that other modules' tests check.
:func:`build_demo_workspace` imports those files through the real importers
(:func:`civgis.store.importers.import_file`); :func:`demo_workspace` builds once and caches (notebooks).

How the town is made (all in metres, deterministic for a seed; ``scale`` multiplies area and
counts):

* a *plan* is laid out on a 100 m grid centred on (0, 0): roads on every 3rd line (arterial
  every 1.2 km, secondary every 600 m, branch every 300 m), back alleys on every line inside
  the old town, a pedestrian commercial street; the network is split at every intersection
  and only its largest connected component is kept;
* the built-up boundary is an irregular star-shaped polygon of 17.5 km² × scale; 300 m cells
  between branch roads are cut into lots (residential, schools, markets, parks, squares,
  industry, vacant plots …) set back from the roads by half the road width plus a verge;
* the whole plan is then bent by a gentle smooth warp (rotation plus sine displacements of
  ≤ 40 m; its Jacobian stays positive, so nothing folds) and moved to the county seat at
  116.9°E 33.3°N in CGCS2000 / 3-degree Gauss-Krüger zone 39 (EPSG:4527);
* lamps (30–40 m apart), toilets, inspection cases and canopy are made on the final geometry.

Examples
--------
>>> c = County(seed=1, scale=0.05).build()
>>> c.crs.to_epsg()
4527
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from civgis.demo.assets import Assets
from civgis.demo.common import (CENTRE_LONLAT, CRS_EPSG, BUILT_UP_KM2, RESIDENTS, GRID_M, _cn_number, _ARTERIAL,
                                _SECONDARY, _BRANCH_WORDS, _ALLEYS, _COMMERCIAL,
                                _BIG_PARKS, _SPECIAL_PARKS, _SQUARES, _EG, RIVER_NAME,
                                _base_class, _CLASS_CODES, _unique_names, _estate_names,
                                _person, _largest_remainder, _Warp, _Lots, _angle_diff,
                                _clip, _cut, _keep_polygons, _blob, _sub_rect,
                                _ORIENT_H, _ORIENT_V)


__all__ = ["County"]


class County(Assets):
    """One generated county: ``build()`` lays out the plan, warps it and places lamps, toilets, cases.

    Plan geometry (metres around 0, 0) ends in ``_plan``; final geometry (EPSG:4527) in ``_f``.
    """

    def __init__(self, seed: int, scale: float):
        if not scale > 0:
            raise ValueError(f"scale must be positive, not {scale}")
        self.seed = int(seed)
        self.scale = float(scale)
        self.rng = np.random.default_rng(self.seed)
        self.crs = CRS.from_epsg(CRS_EPSG)
        to_gk = Transformer.from_crs(4326, self.crs, always_xy=True)
        self.to_wgs = Transformer.from_crs(self.crs, 4326, always_xy=True)
        self.e0, self.n0 = to_gk.transform(*CENTRE_LONLAT)

    # -------------------------------------------------------------- plan
    def build(self):
        t_start = time.perf_counter()
        rng = self.rng
        S = GRID_M
        area = BUILT_UP_KM2 * 1e6 * self.scale
        # built-up: star-shaped polygon with a few random harmonics, rescaled to the target area
        theta = np.linspace(0.0, 2 * np.pi, 721)[:-1]
        ph = rng.uniform(0, 2 * np.pi, 4)
        r = (1 + 0.16 * np.cos(2 * theta + ph[0]) + 0.09 * np.cos(3 * theta + ph[1])
             + 0.05 * np.cos(5 * theta + ph[2]) + 0.03 * np.cos(7 * theta + ph[3]))
        k = np.arange(8, 16)
        r = r + (rng.uniform(0.004, 0.018, len(k))[:, None]
                 * np.cos(k[:, None] * theta[None, :] + rng.uniform(0, 2 * np.pi, len(k))[:, None])).sum(axis=0)
        unit = shapely.Polygon(np.c_[r * np.cos(theta), r * np.sin(theta)])
        R = math.sqrt(area / unit.area)
        self.R = R
        self.built = shapely.Polygon(np.c_[R * r * np.cos(theta), R * r * np.sin(theta)])
        shapely.prepare(self.built)
        rmax = R * r.max()
        self.K = K = int(math.ceil(rmax / S / 3.0)) * 3 + 3

        # warp to the final CRS
        self.warp = _Warp(theta=math.radians(rng.uniform(6, 16) * rng.choice([-1, 1])), a=rng.uniform(25, 40), b=rng.uniform(25, 40),
                          l1=rng.uniform(3500, 5000), l2=rng.uniform(3500, 5000), p1=rng.uniform(0, 2 * np.pi),
                          p2=rng.uniform(0, 2 * np.pi), e0=self.e0, n0=self.n0)

        # cells of 3×3 grid squares between branch roads
        cidx = np.arange(-K // 3, K // 3)
        CI, CJ = np.meshgrid(cidx, cidx, indexing="ij")
        CI, CJ = CI.ravel(), CJ.ravel()
        boxes = shapely.box(CI * 3 * S, CJ * 3 * S, (CI + 1) * 3 * S, (CJ + 1) * 3 * S)
        frac = shapely.area(_clip(boxes, self.built)) / (9 * S * S)
        keep = frac > 1e-6
        self.cells = pd.DataFrame({"ci": CI[keep], "cj": CJ[keep], "frac": frac[keep]})
        cells = self.cells
        cells["cx"] = (cells.ci + 0.5) * 3 * S
        cells["cy"] = (cells.cj + 0.5) * 3 * S
        cells["r"] = np.hypot(cells.cx, cells.cy)
        cells["ang"] = np.arctan2(cells.cy, cells.cx)
        full = cells.frac > 0.999

        # old town, park-less district (公园服务盲区), industry
        ot_ang = rng.uniform(-np.pi, np.pi)
        self.ot_c = np.array([0.12 * R * math.cos(ot_ang), 0.12 * R * math.sin(ot_ang)])
        self.ot_r = 0.27 * R
        cells["old"] = full & (np.hypot(cells.cx - self.ot_c[0], cells.cy - self.ot_c[1]) < self.ot_r)
        self.desert_dir = rng.uniform(-np.pi, np.pi)
        self.desert_half = math.radians(32)
        self.desert_rmin = 0.45 * R
        ang = np.linspace(self.desert_dir - self.desert_half, self.desert_dir + self.desert_half, 40)
        wedge = shapely.Polygon(np.r_[[[0.0, 0.0]], np.c_[4 * R * np.cos(ang), 4 * R * np.sin(ang)]])
        self.desert_plan = shapely.difference(shapely.intersection(wedge, self.built),
                                              shapely.Point(0, 0).buffer(self.desert_rmin, quad_segs=16))
        #: no park may touch the park-less district or come within 100 m of it
        self.desert_zone = self.desert_plan.buffer(100.0)
        shapely.prepare(self.desert_zone)
        cells["desert"] = shapely.intersects(self.desert_zone, shapely.box(
            cells.ci * 3 * S, cells.cj * 3 * S, (cells.ci + 1) * 3 * S, (cells.cj + 1) * 3 * S))
        ind_dir = self.desert_dir + np.pi + rng.uniform(-0.6, 0.6)
        cells["industry"] = (np.abs(_angle_diff(cells.ang, ind_dir)) < math.radians(30)) & (cells.r > 0.55 * R)

        # river: a sinuous line across the town
        xr = np.arange(-1.3 * rmax, 1.3 * rmax + 1, 20.0)
        yr0 = rng.uniform(-0.35, -0.15) * R * rng.choice([-1, 1])
        yr = yr0 + 150 * np.sin(2 * np.pi * xr / 2600 + rng.uniform(0, 2 * np.pi))
        self.river = shapely.LineString(np.c_[xr, yr])
        self.river_corridor = self.river.buffer(55.0)
        river_band = shapely.buffer(self.river, 20.0)
        cells["river"] = shapely.intersects(shapely.box(cells.cx - 150, cells.cy - 150, cells.cx + 150,
                                                        cells.cy + 150), self.river.buffer(60))
        # reserved park cells: big comprehensive parks (2×2 cells) and small ones (1 cell)
        cellset = {(a, b): i for i, (a, b) in enumerate(zip(cells.ci, cells.cj))}
        free = (full & ~cells.old & ~cells.desert & ~cells.river).to_numpy()
        reserved = np.zeros(len(cells), bool)
        self.parks_big = []  # (x0, y0, x1, y1, kind)
        n_big = max(1, round(self.scale))
        order = rng.permutation(len(cells))
        for idx in order:
            if len(self.parks_big) >= n_big:
                break
            a, b = cells.ci[idx], cells.cj[idx]
            block = [cellset.get((a + da, b + db)) for da in (0, 1) for db in (0, 1)]
            if any(i is None for i in block) or not all(free[i] and not reserved[i] for i in block):
                continue
            if not (0.3 * R < cells.r[idx] < 0.65 * R):
                continue
            around = [cellset.get((a + da, b + db)) for da in range(-1, 3) for db in range(-1, 3)]
            if any(i is not None and reserved[i] for i in around):
                continue
            reserved[block] = True
            self.parks_big.append((a * 3 * S, b * 3 * S, (a + 2) * 3 * S, (b + 2) * 3 * S, "G11"))
        n_small = max(2, round(2 * self.scale))
        placed = 0
        for idx in order[::-1]:
            if placed >= n_small:
                break
            a, b = cells.ci[idx], cells.cj[idx]
            around = [cellset.get((a + da, b + db)) for da in range(-1, 2) for db in range(-1, 2)]
            if not free[idx] or any(i is not None and reserved[i] for i in around) or cells.r[idx] > 0.75 * R:
                continue
            reserved[idx] = True
            placed += 1
            self.parks_big.append((a * 3 * S, b * 3 * S, (a + 1) * 3 * S, (b + 1) * 3 * S, "G11"))
        cells["reserved"] = reserved

        steps = [("lines", self._lines), ("roads", self._roads), ("lots", self._lots), ("zones", self._zones),
                 ("green", lambda rng: self._green(rng, river_band)), ("residential", self._residential),
                 ("candidates", self._candidates), ("warp", lambda rng: self._finalise()), ("lamps", self._lamps),
                 ("toilets", self._toilets), ("inspections", self._inspections)]
        #: seconds per step (bench/bench_demo_scale.py prints them)
        self.timings = {"layout": time.perf_counter() - t_start}
        for name, step in steps:
            t0 = time.perf_counter()
            step(rng)
            self.timings[name] = time.perf_counter() - t0
        return self

    # -------------------------------------------------------------- grid lines
    def _lines(self, rng):
        """Class, width and name of every grid line (plus the commercial streets)."""
        K = self.K
        ks = np.arange(-K, K + 1)
        self.line_width = {}
        self.line_name = {}
        widths = {3: [40.0, 45.0, 50.0], 2: [24.0, 28.0, 30.0], 1: [12.0, 15.0, 18.0], 0: [3.0, 4.0, 5.0, 6.0]}
        for orient in (_ORIENT_H, _ORIENT_V):
            for k in ks:
                self.line_width[(orient, int(k))] = float(rng.choice(widths[int(_base_class(k))]))
        for cls, pool in ((3, _ARTERIAL), (2, _SECONDARY)):
            keys = [(o, int(k)) for o in (0, 1) for k in ks if _base_class(k) == cls]
            for key, name in zip(keys, _unique_names(pool, len(keys), rng)):
                self.line_name[key] = name
        keys = [(o, int(k)) for o in (0, 1) for k in ks if _base_class(k) == 1]
        pool = [w + ("路" if i % 3 else "街") for i, w in enumerate(_BRANCH_WORDS)]
        for key, name in zip(keys, _unique_names(pool, len(keys), rng)):
            self.line_name[key] = name
        keys = [(o, int(k)) for o in (0, 1) for k in ks if _base_class(k) == 0]
        for key, name in zip(keys, _unique_names(_ALLEYS, len(keys), rng)):
            self.line_name[key] = name
        # commercial: the old-town alley line through its centre, and a branch line near the centre
        S = GRID_M
        j = int(round(self.ot_c[1] / S))
        j = j + 1 if j % 3 == 0 else j
        self.com_old = (_ORIENT_H, j)
        self.line_width[self.com_old] = float(rng.choice([10.0, 12.0]))
        i = int(round(self.ot_c[0] / S / 3.0)) * 3
        if i % 6 == 0:
            i += 3
        self.com_branch = (_ORIENT_V, i)
        com_names = list(rng.permutation(_COMMERCIAL))
        self.com_names = {self.com_old: str(com_names[0]), self.com_branch: str(com_names[1])}

    # -------------------------------------------------------------- roads
    def _roads(self, rng):
        S, K = GRID_M, self.K
        t = np.arange(-K, K)
        k = np.arange(-K, K + 1)
        T, L = np.meshgrid(t, k, indexing="ij")
        T, L = T.ravel(), L.ravel()
        edges = []
        old_cells = set(zip(self.cells.ci[self.cells.old], self.cells.cj[self.cells.old]))
        for orient in (_ORIENT_H, _ORIENT_V):
            cls = _base_class(L).astype(np.int64)
            # the cell holding an off-line edge: along index t // 3, across index k // 3
            if orient == _ORIENT_H:
                cell_keys = list(zip((T // 3).tolist(), (L // 3).tolist()))
            else:
                cell_keys = list(zip((L // 3).tolist(), (T // 3).tolist()))
            in_old = np.fromiter((c in old_cells for c in cell_keys), bool, len(cell_keys))
            cls = np.where((cls == 0) & in_old, 5, cls)
            # commercial streets
            if orient == self.com_old[0]:
                cls = np.where((L == self.com_old[1]) & in_old, 4, cls)
            if orient == self.com_branch[0]:
                along_c = self.ot_c[1] / S
                cls = np.where((L == self.com_branch[1]) & (np.abs(T + 0.5 - along_c) < 4.5), 4, cls)
            edges.append(pd.DataFrame({"orient": orient, "k": L, "t": T, "cls": cls}))
        e = pd.concat(edges, ignore_index=True)
        e = e[e.cls > 0].reset_index(drop=True)
        # endpoints (plan coordinates)
        h = e.orient == _ORIENT_H
        e["x0"] = np.where(h, e.t, e.k) * S
        e["y0"] = np.where(h, e.k, e.t) * S
        e["x1"] = np.where(h, e.t + 1, e.k) * S
        e["y1"] = np.where(h, e.k, e.t + 1) * S
        zone = self.built.buffer(60.0)
        shapely.prepare(zone)
        ok = shapely.contains_xy(zone, e.x0, e.y0) & shapely.contains_xy(zone, e.x1, e.y1)
        mx, my = (e.x0 + e.x1) / 2, (e.y0 + e.y1) / 2
        for x0, y0, x1, y1, _ in self.parks_big:
            ok &= ~((mx > x0 + 1) & (mx < x1 - 1) & (my > y0 + 1) & (my < y1 - 1))
        e = e[ok].reset_index(drop=True)
        # largest connected component
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n_side = 2 * K + 1
        node = lambda x, y: ((np.round(x / S).astype(np.int64) + K) * n_side + np.round(y / S).astype(np.int64) + K)
        e["n0"], e["n1"] = node(e.x0, e.y0), node(e.x1, e.y1)
        n_nodes = n_side * n_side
        adj = coo_matrix((np.ones(len(e)), (e.n0, e.n1)), shape=(n_nodes, n_nodes))
        _, labels = connected_components(adj, directed=False)
        lab = labels[e.n0]
        biggest = np.bincount(lab).argmax()
        e = e[lab == biggest].reset_index(drop=True)
        degree = np.bincount(np.r_[e.n0, e.n1], minlength=n_nodes)
        # merge chains of one line and class through nodes of degree 2
        e = e.sort_values(["orient", "k", "t"], kind="stable").reset_index(drop=True)
        prev_same = ((e.orient == e.orient.shift()) & (e.k == e.k.shift()) & (e.t == e.t.shift() + 1)
                     & (e.cls == e.cls.shift()))
        through = degree[e.n0] == 2
        e["seg"] = np.cumsum(~(prev_same & through).to_numpy()) - 1
        self.edges = e
        first = ~(prev_same & through).to_numpy()
        pts = np.r_[np.c_[e.x0[first], e.y0[first]], np.c_[e.x1, e.y1]]
        seg = np.r_[e.seg[first], e.seg]
        pos = np.r_[2 * e.t[first], 2 * e.t + 1]
        o = np.lexsort((pos, seg))
        lines = shapely.linestrings(pts[o], indices=seg[o])
        segs = e.groupby("seg", sort=True).first()
        classes = segs.cls.map(_CLASS_CODES).to_numpy()
        keys = list(zip(segs.orient.tolist(), segs.k.tolist()))
        width = np.array([self.line_width[key] for key in keys])
        names = np.array([self.com_names[key] if c == "commercial" else self.line_name[key]
                          for key, c in zip(keys, classes)], dtype=object)
        width = np.where(classes == "commercial", np.where(np.array([kk == self.com_old for kk in keys]),
                                                           width, np.minimum(width, 16.0)), width)
        p_swept = pd.Series(classes).map({"arterial": 1.0, "secondary": 0.95, "branch": 0.7, "commercial": 0.5,
                                          "alley": 0.1}).to_numpy()
        swept = rng.random(len(classes)) < p_swept
        self.roads_plan = pd.DataFrame({"road_class": classes, "name": names, "width_m": width,
                                        "mech_swept": swept, "orient": segs.orient.to_numpy(),
                                        "k": segs.k.to_numpy()})
        self.roads_plan_geom = lines

    # -------------------------------------------------------------- lots
    def _setback(self, orient, k, kind):
        """Set-back of a lot side from a grid line: half the road width plus a verge."""
        if kind == "split":
            return 4.0
        hw = self.line_width[(orient, int(k))] / 2.0
        return hw + {3: 25.0, 2: 5.0, 1: 5.0, 0: 1.0}[int(_base_class(k))]

    def _lots(self, rng):
        S = GRID_M
        c = self.cells
        rows = []
        for ci, cj, old, reserved in zip(c.ci, c.cj, c.old, c.reserved):
            if reserved:
                continue
            X0, Y0 = ci * 3, cj * 3  # grid indices of the cell's lower-left corner
            if old:
                for a in range(3):
                    for b in range(3):
                        rows.append((X0 + a, Y0 + b, X0 + a + 1, Y0 + b + 1, "line", "line", "line", "line", True))
            elif rng.random() < 0.5:  # split west/east
                rows.append((X0, Y0, X0 + 1.5, Y0 + 3, "line", "split", "line", "line", False))
                rows.append((X0 + 1.5, Y0, X0 + 3, Y0 + 3, "split", "line", "line", "line", False))
            else:
                rows.append((X0, Y0, X0 + 3, Y0 + 1.5, "line", "line", "line", "split", False))
                rows.append((X0, Y0 + 1.5, X0 + 3, Y0 + 3, "line", "line", "split", "line", False))
        ax0, ay0, ax1, ay1, kl, kr, kb, kt, old = (np.array(v) for v in zip(*rows))
        sb = lambda orient, k, kind: np.array([self._setback(orient, kk, kd) for kk, kd in zip(k, kind)])
        lots = _Lots(x0=ax0 * S, y0=ay0 * S, x1=ax1 * S, y1=ay1 * S,
                     ix0=ax0 * S + sb(_ORIENT_V, ax0, kl), ix1=ax1 * S - sb(_ORIENT_V, ax1, kr),
                     iy0=ay0 * S + sb(_ORIENT_H, ay0, kb), iy1=ay1 * S - sb(_ORIENT_H, ay1, kt), old=old.astype(bool))
        lots.kinds = (kl, kr, kb, kt)
        geom = shapely.box(lots.ix0, lots.iy0, lots.ix1, lots.iy1)
        geom = _cut(_clip(geom, self.built), self.river_corridor)
        geom = _keep_polygons(geom)
        area = shapely.area(geom)
        R = self.R
        r = np.hypot(lots.cx, lots.cy)
        desert = shapely.contains_xy(self.desert_plan, lots.cx, lots.cy)
        near_desert = shapely.intersects(self.desert_zone, shapely.box(lots.x0, lots.y0, lots.x1, lots.y1))
        cell_of = {(a, b): i for i, (a, b) in enumerate(zip(c.ci, c.cj))}
        cidx = np.array([cell_of[(int(np.floor(x / 300.0)), int(np.floor(y / 300.0)))]
                         for x, y in zip(lots.cx, lots.cy)])
        industry = c.industry.to_numpy()[cidx]
        use = np.full(len(area), "residential", dtype=object)
        usable = area > 2000
        use[~usable] = "none"
        sc = self.scale

        def pick(n, mask):
            idx = np.flatnonzero(mask & (use == "residential"))
            n = min(int(round(n)), len(idx))
            chosen = rng.choice(idx, n, replace=False) if n else np.array([], int)
            return chosen

        def pick_spaced(n, mask, centres, min_dist=450.0):
            """Like pick, but each chosen lot at least ``min_dist`` from every centre so far (clean clusters)."""
            chosen = []
            for i in rng.permutation(np.flatnonzero(mask & (use == "residential"))):
                if len(chosen) >= int(round(n)):
                    break
                if all(math.hypot(lots.cx[i] - x, lots.cy[i] - y) >= min_dist for x, y in centres):
                    chosen.append(i)
                    centres.append((lots.cx[i], lots.cy[i]))
            return np.array(chosen, dtype=int)

        big = area > 20000
        use[pick(0.5 * np.sum(industry & usable), industry & ~lots.old)] = "industrial"
        away_from_old = np.hypot(lots.cx - self.ot_c[0], lots.cy - self.ot_c[1]) > self.ot_r + 250
        self.poi_centres = []
        use[pick_spaced(3 * sc, ~lots.old & big & (r < 0.7 * R) & away_from_old, self.poi_centres)] = "market"
        use[pick_spaced(5 * sc, ~lots.old & big & (r < 0.8 * R) & away_from_old, self.poi_centres)] = "school"
        use[pick(14 * sc, ~lots.old & big & ~near_desert)] = "park_G12"
        use[pick(3 * sc, ~lots.old & big & ~near_desert)] = "park_G13"
        use[pick(2 * sc, ~lots.old & big & ~near_desert & (r < 0.5 * R))] = "square"
        use[pick(1, lots.old & ~near_desert)] = "square"
        use[pick(0.35 * np.sum(r < 0.35 * R), (r < 0.35 * R))] = "commercial"
        use[pick(4 * sc, desert & ~lots.old)] = "vacant"
        use[pick(0.05 * len(use), ~lots.old)] = "vacant"
        use[pick(0.05 * len(use), np.ones(len(use), bool))] = "public"
        lots.use = use
        lots.geom = geom
        lots.area = area
        lots.desert = desert
        lots.near_desert = near_desert
        self.lots = lots

    # -------------------------------------------------------------- zones
    def _zones(self, rng):
        from scipy.cluster.vq import kmeans2

        S3 = 3 * GRID_M
        c = self.cells
        n_zones = max(4, int(round(50 * self.scale)))
        pts = np.c_[c.cx, c.cy]
        centroids, _ = kmeans2(pts, n_zones, minit="++", seed=rng, iter=30)
        d = np.hypot(pts[:, None, 0] - centroids[None, :, 0], pts[:, None, 1] - centroids[None, :, 1])
        lab = d.argmin(axis=1)
        used = np.unique(lab)
        # number zones north→south in bands, west→east inside a band (GB/T 30428 habit)
        cen = np.array([pts[lab == z].mean(axis=0) for z in used])
        band = np.floor(-cen[:, 1] / (2 * S3))
        order = np.lexsort((cen[:, 0], band))
        remap = np.empty(used.max() + 1, int)
        remap[used[order]] = np.arange(len(used))
        lab = remap[lab]
        cells_geom = shapely.box(c.ci * S3, c.cj * S3, (c.ci + 1) * S3, (c.cj + 1) * S3)
        n = len(used)
        # cells tile the plane without overlaps: a coverage union is exact and fast
        zone_geom = np.array([shapely.coverage_union_all(cells_geom[lab == z]) for z in range(n)], dtype=object)

        # plant gaps (死角) and overlaps (交叉) on shared edges between zones, inside the built-up area
        cell_of = {(a, b): i for i, (a, b) in enumerate(zip(c.ci, c.cj))}
        shared = []
        full = (c.frac > 0.999).to_numpy()
        for i, (a, b) in enumerate(zip(c.ci, c.cj)):
            for da, db in ((1, 0), (0, 1)):
                j = cell_of.get((a + da, b + db))
                if j is not None and lab[i] != lab[j] and full[i] and full[j]:
                    shared.append((i, j, da))
        n_gap = max(3, int(round(3 * self.scale)))
        n_ovl = max(3, int(round(3 * self.scale)))
        chosen, spots = [], []
        order = rng.permutation(len(shared))
        along = rng.uniform(-70, 70, len(shared))
        for min_gap in (500.0, 300.0, 180.0):  # small towns (scale < 1) need the spots closer together
            for s in order:
                i, j, da = shared[s]
                # a point on the shared edge (its midpoint shifted along it)
                mx = (c.ci[i] + (1.0 if da else 0.5)) * S3
                my = (c.cj[i] + (0.5 if da else 1.0)) * S3
                mx, my = (mx, my + along[s]) if da else (mx + along[s], my)
                if any(math.hypot(mx - x, my - y) < min_gap for x, y in spots):
                    continue
                if self.river_corridor.distance(shapely.Point(mx, my)) < 120:
                    continue
                spots.append((mx, my))
                chosen.append((i, j, da, mx, my))
                if len(chosen) >= n_gap + n_ovl:
                    break
            if len(chosen) >= n_gap + n_ovl:
                break
        gaps, overlaps = [], []
        for q, (i, j, da, mx, my) in enumerate(chosen):
            if q < n_gap:
                w_along, w_across = rng.uniform(45, 90), rng.uniform(30, 60)
                off = rng.uniform(-0.3, 0.3) * w_across
            else:
                w_along, w_across = rng.uniform(50, 90), rng.uniform(40, 70)
                off = rng.uniform(-0.2, 0.2) * w_across
            if da:  # vertical shared edge: across = x
                rect = shapely.box(mx + off - w_across / 2, my - w_along / 2, mx + off + w_across / 2, my + w_along / 2)
            else:
                rect = shapely.box(mx - w_along / 2, my + off - w_across / 2, mx + w_along / 2, my + off + w_across / 2)
            if q < n_gap:
                gaps.append(rect)
            else:
                a_zone, b_zone = (lab[i], lab[j]) if rng.random() < 0.5 else (lab[j], lab[i])
                overlaps.append((rect, int(a_zone), int(b_zone)))
        for rect in gaps:
            zone_geom = shapely.difference(zone_geom, rect)
        for rect, a_zone, _ in overlaps:
            zone_geom[a_zone] = shapely.union(zone_geom[a_zone], rect)
        zone_geom = _clip(zone_geom, self.built)
        self.zones_plan = zone_geom
        self.zone_gaps_plan = gaps
        self.zone_overlaps_plan = overlaps
        cen = np.array([[g.centroid.x, g.centroid.y] for g in zone_geom])
        rz = np.hypot(cen[:, 0], cen[:, 1])
        angz = np.arctan2(cen[:, 1], cen[:, 0])
        sector = np.where(rz < 0.35 * self.R, 0, 1 + (np.floor((angz + np.pi / 4) / (np.pi / 2)) % 4).astype(int))
        street_of_sector = {0: "城关街道", 1: "东城街道", 2: "北城街道", 3: "西城街道", 4: "南城街道"}
        unit_of_sector = {0: "城区执法一中队", 1: "城区执法二中队", 2: "城区执法三中队", 3: "城区执法四中队",
                          4: "城区执法五中队"}
        count = {}
        names, units = [], []
        for s_ in sector:
            count[s_] = count.get(s_, 0) + 1
            names.append(f"{street_of_sector[s_]}第{_cn_number(count[s_])}责任区")
            units.append(unit_of_sector[s_])
        width = max(2, len(str(n)))
        staff = [_person(rng) for _ in range(n)]
        phone = [f"1{rng.choice([3, 5, 8])}{rng.integers(0, 10)}{rng.integers(0, 10**8):08d}" for _ in range(n)]
        missing = rng.choice(n, 2, replace=False)
        staff[missing[0]] = None
        phone[missing[1]] = None
        self.zones_attr = pd.DataFrame({"zone_id": [f"Z{z + 1:0{width}d}" for z in range(n)], "name": names,
                                        "unit": units, "staff": staff, "phone": phone})
        self.zone_missing = [(int(missing[0]), "staff"), (int(missing[1]), "phone")]

    # -------------------------------------------------------------- green
    def _green(self, rng, river_band):
        lots, S = self.lots, GRID_M
        recs = []  # (geom, category, subcategory, name)
        big_names = _unique_names(_BIG_PARKS, len(self.parks_big), rng)
        for (x0, y0, x1, y1, _), name in zip(self.parks_big, big_names):
            i0, i1, j0, j1 = round(x0 / S), round(x1 / S), round(y0 / S), round(y1 / S)
            g = shapely.box(x0 + self._setback(_ORIENT_V, i0, "line"), y0 + self._setback(_ORIENT_H, j0, "line"),
                            x1 - self._setback(_ORIENT_V, i1, "line"), y1 - self._setback(_ORIENT_H, j1, "line"))
            recs.append((g, "G1", "G11", name))
        self.big_park_geoms = [r[0] for r in recs]
        u = lots.use
        # community and special parks fill part / all of their lot
        for idx in np.flatnonzero(u == "park_G12"):
            target = rng.uniform(15000, 35000)
            recs.append((_sub_rect(lots, idx, target, rng), "G1", "G12", None))
        for idx in np.flatnonzero(u == "park_G13"):
            recs.append((lots.geom[idx], "G1", "G13", None))
        squares = np.flatnonzero(u == "square")
        for idx in squares:
            target = rng.uniform(6000, 9000) if lots.old[idx] else rng.uniform(10000, 20000)
            recs.append((_sub_rect(lots, idx, target, rng), "G3", None, None))
        # pocket parks 游园 at intersections of arterial/secondary roads (they overlap the G2 verges)
        kl, kr, kb, kt = lots.kinds
        n_pocket = max(5, int(round(30 * self.scale)))
        cand = []
        for idx in range(len(u)):
            if lots.near_desert[idx] or lots.old[idx] or u[idx] in ("none", "industrial"):
                continue
            for cx_, kx, sx in ((lots.x0[idx], kl[idx], 1), (lots.x1[idx], kr[idx], -1)):
                for cy_, ky, sy in ((lots.y0[idx], kb[idx], 1), (lots.y1[idx], kt[idx], -1)):
                    if kx == "line" and ky == "line":
                        gi, gj = round(cx_ / S), round(cy_ / S)
                        if _base_class(gi) >= 2 and _base_class(gj) >= 2:
                            cand.append((idx, cx_, cy_, sx, sy, gi, gj))
        chosen_pockets = [cand[i] for i in rng.choice(len(cand), min(n_pocket, len(cand)), replace=False)]
        pockets = []
        for idx, cx_, cy_, sx, sy, gi, gj in chosen_pockets:
            side = rng.uniform(24, 45)
            px = cx_ + sx * (self.line_width[(_ORIENT_V, gi)] / 2 + 2)
            py = cy_ + sy * (self.line_width[(_ORIENT_H, gj)] / 2 + 2)
            g = shapely.box(min(px, px + sx * side), min(py, py + sy * side), max(px, px + sx * side),
                            max(py, py + sy * side))
            pockets.append(g)
            recs.append((g, "G1", "G14", None))
        self.pocket_union = shapely.union_all(pockets) if pockets else shapely.Polygon()
        # G2 verges along arterials: a 15 m strip between the road edge and the lot
        for idx in range(len(u)):
            if u[idx] == "none":
                continue
            for kind, line_k, orient, sign, edge in ((kl[idx], lots.x0[idx], _ORIENT_V, 1, "x"),
                                                     (kr[idx], lots.x1[idx], _ORIENT_V, -1, "x"),
                                                     (kb[idx], lots.y0[idx], _ORIENT_H, 1, "y"),
                                                     (kt[idx], lots.y1[idx], _ORIENT_H, -1, "y")):
                gk = round(line_k / S)
                if kind != "line" or _base_class(gk) != 3:
                    continue
                hw = self.line_width[(orient, gk)] / 2
                a, b = line_k + sign * (hw + 2), line_k + sign * (hw + 22)
                if edge == "x":
                    g = shapely.box(min(a, b), lots.y0[idx] + 10, max(a, b), lots.y1[idx] - 10)
                else:
                    g = shapely.box(lots.x0[idx] + 10, min(a, b), lots.x1[idx] - 10, max(a, b))
                recs.append((g, "G2", None, f"{self.line_name[(orient, gk)]}防护绿地"))
        # attached green 附属绿地 in residential, school and public lots
        # (residential: one block of green in each half of the estate, ≈ 35–45 % together, the usual
        # 绿地率 of newer estates; now and then the same green digitised twice, overlapping)
        for idx in np.flatnonzero(np.isin(u, ["residential", "school", "public"])):
            if u[idx] == "residential":
                for half in (0, 1):
                    share = rng.uniform(0.17, 0.23)
                    recs.append((_sub_rect(lots, idx, share * lots.area[idx], rng, half=half), "XG", None, None))
                if rng.random() < 0.05:
                    recs.append((_sub_rect(lots, idx, 0.2 * lots.area[idx], rng, half=0), "XG", None, None))
            else:
                share = rng.uniform(0.2, 0.3)
                recs.append((_sub_rect(lots, idx, share * lots.area[idx], rng), "XG", None, None))
        geoms = np.array([r[0] for r in recs], dtype=object)
        cats = np.array([r[1] for r in recs], dtype=object)
        not_river = cats != "G2"
        geoms[not_river] = _cut(geoms[not_river], self.river_corridor)
        geoms = _clip(geoms, self.built)
        # river verges
        verge = shapely.intersection(shapely.difference(self.river.buffer(50.0), river_band), self.built)
        parts = shapely.get_parts(verge)
        parts = parts[shapely.area(parts) > 500]
        geoms = np.r_[geoms, parts]
        recs += [(None, "G2", None, f"{RIVER_NAME}防护绿带")] * len(parts)
        # regional green 区域绿地 outside the built-up area
        n_eg = max(2, int(round(3 * self.scale)))
        eg_geoms, eg_names = [], _unique_names(_EG, n_eg, rng)
        ring_out = self.built.buffer(150.0)
        for q in range(n_eg):
            ang = 2 * np.pi * q / n_eg + rng.uniform(-0.4, 0.4)
            dist = math.sqrt(self.built.area / np.pi) * 1.25 + rng.uniform(400, 1400)
            cx_, cy_ = dist * math.cos(ang), dist * math.sin(ang)
            blob = _blob(rng, cx_, cy_, rng.uniform(400, 650))
            eg_geoms.append(shapely.difference(blob, ring_out))
        geoms = np.r_[geoms, np.array(eg_geoms, dtype=object)]
        recs += [(None, "EG", None, nm) for nm in eg_names]
        sub = np.array([r[2] for r in recs], dtype=object)
        cats = np.array([r[1] for r in recs], dtype=object)
        names = np.array([r[3] for r in recs], dtype=object)
        geoms = _keep_polygons(geoms)
        keep = shapely.area(geoms) > 50
        self.green_plan = geoms[keep]
        self.green_attr = pd.DataFrame({"category": cats[keep], "subcategory": sub[keep], "name": names[keep]})
        # names for parks without one
        g = self.green_attr
        cnt = {"G12": 0, "G13": 0, "G14": 0, "G3": 0}
        special = list(rng.permutation(_SPECIAL_PARKS))
        square_names = _unique_names(_SQUARES, int(np.sum(g.category == "G3")), rng)
        res_words = list(rng.permutation(_BRANCH_WORDS))
        for i in range(len(g)):
            if g.name.iat[i] is not None:
                continue
            key = g.subcategory.iat[i] if g.category.iat[i] == "G1" else g.category.iat[i]
            if key == "G12":
                g.loc[g.index[i], "name"] = f"{res_words[cnt['G12'] % len(res_words)]}社区公园"
            elif key == "G13":
                g.loc[g.index[i], "name"] = special[cnt["G13"] % len(special)]
            elif key == "G14":
                g.loc[g.index[i], "name"] = f"{res_words[(cnt['G14'] + 7) % len(res_words)]}游园"
            elif key == "G3":
                g.loc[g.index[i], "name"] = square_names[cnt["G3"]]
            elif key == "XG":
                g.loc[g.index[i], "name"] = None
            if key in cnt:
                cnt[key] += 1

    # -------------------------------------------------------------- residential
    def _residential(self, rng):
        lots = self.lots
        idx = np.flatnonzero(lots.use == "residential")
        geom = shapely.difference(lots.geom[idx], self.pocket_union)
        geom = _keep_polygons(geom)
        area = shapely.area(geom)
        ok = area > 1500
        idx, geom, area = idx[ok], geom[ok], area[ok]
        density = np.where(lots.old[idx], rng.uniform(0.7, 1.0, len(idx)), rng.uniform(0.8, 1.6, len(idx)))
        pop = _largest_remainder(area * density, int(round(RESIDENTS * self.scale)))
        names = _estate_names(len(idx), rng)
        self.res_plan = geom
        self.res_attr = pd.DataFrame({"name": names, "population": pop})

    # -------------------------------------------------------------- candidates
    def _candidates(self, rng):
        lots = self.lots
        u = lots.use
        n = max(10, int(round(50 * self.scale)))
        quads = []
        for idx in np.flatnonzero(np.isin(u, ["vacant", "industrial", "public", "commercial"])):
            xs = np.linspace(lots.ix0[idx], lots.ix1[idx], 3)
            ys = np.linspace(lots.iy0[idx], lots.iy1[idx], 3)
            for a in range(2):
                for b in range(2):
                    quads.append((idx, xs[a], ys[b], xs[a + 1], ys[b + 1]))
        quads = np.array(quads, dtype=float)
        lot_idx = quads[:, 0].astype(int)
        in_desert = lots.desert[lot_idx]
        w = np.where(in_desert, 6.0, 1.0) * np.where(u[lot_idx] == "vacant", 3.0, 1.0)
        order = rng.choice(len(quads), size=min(len(quads), 3 * n), replace=False, p=w / w.sum())
        out = []
        for q in order:
            if len(out) >= n:
                break
            _, x0, y0, x1, y1 = quads[q]
            target = float(np.exp(rng.uniform(np.log(500), np.log(15000))))
            aspect = rng.uniform(0.6, 1.7)
            wdt = min(math.sqrt(target * aspect), x1 - x0 - 6)
            hgt = min(target / max(wdt, 1.0), y1 - y0 - 6)
            if wdt < 15 or hgt < 15:
                continue
            ox = x0 + 3 + rng.uniform(0, x1 - x0 - 6 - wdt)
            oy = y0 + 3 + rng.uniform(0, y1 - y0 - 6 - hgt)
            g = shapely.difference(shapely.intersection(shapely.box(ox, oy, ox + wdt, oy + hgt), self.built),
                                   self.river_corridor)
            if g.area < 500:
                continue
            out.append(g)
        self.cand_plan = np.array(out, dtype=object)

    # -------------------------------------------------------------- final coordinates
    def _finalise(self):
        W = self.warp
        self.built_f = W.geoms(self.built)
        self.roads_f = W.geoms(self.roads_plan_geom)
        zones = W.geoms(self.zones_plan)
        self.zones_f = _keep_polygons(shapely.make_valid(shapely.intersection(shapely.make_valid(zones), self.built_f)))
        self.green_f = _keep_polygons(shapely.make_valid(W.geoms(self.green_plan)))
        self.res_f = _keep_polygons(shapely.make_valid(W.geoms(self.res_plan)))
        self.cand_f = _keep_polygons(shapely.make_valid(W.geoms(self.cand_plan)))
        self.gaps_f = [W.geoms(g) for g in self.zone_gaps_plan]

