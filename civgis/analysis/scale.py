"""Scale-out: counting cases per hexagon on a Dask cluster, for event tables larger than memory.

The single-machine path (:func:`civgis.analysis.hotspots.count_in_hexes`) reads every case at once. When
years of cases from a city-wide 12345 hotline do not fit in memory, the same counting runs on a
Dask DataFrame partition by partition — locally or on a ``dask.distributed`` cluster — and only
one small vector of counts per partition travels back: each partition rounds its points to hexagon
axial coordinates (:func:`civgis.analysis.hotspots.hex_cell_index`, pure numpy), ``np.bincount``\\ s them
against the grid, and the per-partition vectors are summed in a tree reduction. Because hexagon
assignment is pure arithmetic on the coordinates (the grid is fixed by ``cell_size`` and its
origin), partitions need no spatial index, no sort along a space-filling curve and no shuffle —
the counts are identical to the single-machine path, case for case.

Inputs: a ``dask_geopandas.GeoDataFrame`` of points, a ``dask.dataframe.DataFrame`` with x/y
columns (e.g. ``dd.read_parquet("cases/*.parquet")`` or ``dd.read_csv``), or a path/glob of
Parquet files. Coordinates must already be in the workspace CRS (metres).

peers.md: at city size on two cores Dask is slower than plain geopandas — use this for tables
that do not fit in memory, not by default.

Examples
--------
>>> import numpy as np, pandas as pd, dask.dataframe as dd
>>> from shapely.geometry import box
>>> from civgis.analysis.hotspots import hex_grid, count_in_hexes
>>> grid = hex_grid(box(0, 0, 1000, 1000), 100.0)
>>> rng = np.random.default_rng(1)
>>> df = pd.DataFrame({"x": rng.uniform(0, 1000, 5000), "y": rng.uniform(0, 1000, 5000)})
>>> big = dd.from_pandas(df, npartitions=4)
>>> bool((count_in_hexes_dask(big, grid) == count_in_hexes(df[["x", "y"]].to_numpy(), grid)).all())
True
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd

from civgis.analysis.hotspots import (HotspotResult, _grid_params, distance_band_weights, fdr_bins,
                                      gi_star_from_weights, grid_centres, hex_cell_index, hex_grid)

__all__ = ["count_in_hexes_dask", "hotspots_dask"]


def _partition_counts(part, q, r, cell_size, origin, x, y, category, since, until) -> np.ndarray:
    """Counts of one pandas partition against the grid described by (q, r, cell_size, origin)."""
    import geopandas as gpd
    import shapely

    n_cells = len(q)
    if len(part) == 0:
        return np.zeros(n_cells, dtype=np.int64)
    mask = np.ones(len(part), dtype=bool)
    if category is not None:
        cats = [category] if isinstance(category, str) else list(category)
        col = part["category"].astype(str)
        m = np.zeros(len(part), dtype=bool)
        for code in cats:
            m |= (col.str.startswith(code) if len(code) < 4 else col == code).to_numpy(dtype=bool, na_value=False)
        mask &= m
    if since is not None or until is not None:
        t = pd.to_datetime(part["reported_at"], format="mixed")
        if since is not None:
            mask &= (t >= pd.Timestamp(since)).to_numpy(dtype=bool, na_value=False)
        if until is not None:
            mask &= (t < pd.Timestamp(until)).to_numpy(dtype=bool, na_value=False)
    if isinstance(part, gpd.GeoDataFrame):
        xy = shapely.get_coordinates(part.geometry.values[mask])
    else:
        xy = np.column_stack([part[x].to_numpy(float)[mask], part[y].to_numpy(float)[mask]])
    grid = pd.DataFrame({"q": q, "r": r})
    idx = hex_cell_index(xy, grid, cell_size=cell_size, origin=origin)
    return np.bincount(idx[idx >= 0], minlength=n_cells).astype(np.int64)


def count_in_hexes_dask(cases, grid, *, x: str = "x", y: str = "y", category=None, since=None, until=None,
                        client=None, split_every: int = 8) -> np.ndarray:
    """Cases per hexagon cell of ``grid``, computed partition by partition with Dask.

    Parameters
    ----------
    cases : dask_geopandas.GeoDataFrame | dask.dataframe.DataFrame | str | Path
        Point cases (geometry, or ``x``/``y`` columns in metres), or a Parquet path/glob.
    grid : GeoDataFrame from :func:`civgis.analysis.hotspots.hex_grid`
    category, since, until :
        The same filters as :func:`civgis.analysis.hotspots.filter_cases` (event code prefix, reported_at window).
    client : distributed.Client, optional
        Run on this cluster (default: the current default scheduler — a running Client if any).
    split_every : int
        Fan-in of the tree reduction of per-partition count vectors.

    Returns
    -------
    ndarray of int64, one count per grid row — equal to :func:`civgis.analysis.hotspots.count_in_hexes`.
    """
    import dask
    import dask.dataframe as dd

    if isinstance(cases, (str, Path)):
        cases = dd.read_parquet(str(cases))
    cell_size, origin = _grid_params(grid)
    q = grid["q"].to_numpy(np.int64)
    r = grid["r"].to_numpy(np.int64)
    parts = cases.to_delayed()
    fn = dask.delayed(_partition_counts, pure=True)
    vectors = [fn(p, q, r, cell_size, origin, x, y, category, since, until) for p in parts]
    add = dask.delayed(lambda *vs: reduce(np.add, vs), pure=True)
    while len(vectors) > 1:   # tree reduction: only small vectors are combined
        vectors = [add(*vectors[i:i + split_every]) for i in range(0, len(vectors), split_every)]
    total = vectors[0] if vectors else dask.delayed(np.zeros)(len(q), dtype=np.int64)
    if client is not None:
        return np.asarray(client.compute(total).result(), dtype=np.int64)
    return np.asarray(total.compute(), dtype=np.int64)


def hotspots_dask(cases, study_area, *, cell_size: float, band: float, fdr: bool = True, client=None, **filters):
    """Gi* hot spots with the counting done on Dask (cell size and band must be given: no OHSA pass).

    Returns a :class:`civgis.analysis.hotspots.HotspotResult` identical to the single-machine one.
    """

    crs = getattr(study_area, "crs", None)
    grid = hex_grid(study_area, cell_size, crs=crs)
    counts = count_in_hexes_dask(cases, grid, client=client, **filters)
    W = distance_band_weights(grid_centres(grid), band)
    z, p = gi_star_from_weights(counts, W)
    cells = grid.copy()
    cells["count"] = counts
    cells["n_neighbours"] = np.bincount(W.row, minlength=len(grid)) - 1
    cells["gi_z"], cells["gi_p"], cells["gi_bin"] = z, p, fdr_bins(z, p, fdr=fdr)
    cells = cells[["cell_id", "q", "r", "count", "n_neighbours", "gi_z", "gi_p", "gi_bin", "geometry"]]
    return HotspotResult(cells=cells, cell_size_m=float(cell_size), band_m=float(band),
                         chosen_how={"method": "given 指定 (dask)"}, n_cases=int(counts.sum()), fdr=fdr,
                         filters={k: (str(v) if v is not None else None) for k, v in filters.items()})
