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

The same holds for the ledger's totals (:func:`zone_totals_dask`): a case's state at an instant and
its one zone (:func:`civgis.analysis.cases.case_states`) depend on that case alone, so each partition
counts its cases per zone and outcome, and the small per-zone tables are summed. The county totals
(:func:`totals_from_zone_counts`) are those of :func:`civgis.analysis.ledger.build_ledger`, except the
median days to close, which is not a sum of partitions and is left missing (NaN). A province-wide
table is counted per county and zone with ``by="county"``.

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

from civgis.analysis.cases import OUTCOMES, UNZONED, as_of_instant, case_states
from civgis.analysis.hotspots import (HotspotResult, _grid_params, distance_band_weights, fdr_bins,
                                      gi_star_from_weights, grid_centres, hex_cell_index, hex_grid)

__all__ = ["count_in_hexes_dask", "hotspots_dask", "ZONE_TOTAL_COLUMNS", "zone_totals_dask", "zone_totals",
           "totals_from_zone_counts"]


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


# ---------------------------------------------------------------------- ledger totals per zone
#: the columns of :func:`zone_totals`: cases in scope, each outcome, and the cases reported after as_of
ZONE_TOTAL_COLUMNS = ["cases", *OUTCOMES, "excluded_after_as_of"]


def _as_points(part, crs, x: str, y: str):
    """A pandas partition as a GeoDataFrame of points (geometry kept when it has one)."""
    import geopandas as gpd

    if isinstance(part, gpd.GeoDataFrame):
        return part
    return gpd.GeoDataFrame(part, geometry=gpd.points_from_xy(part[x].to_numpy(float), part[y].to_numpy(float)),
                            crs=crs)


def zone_totals(cases, zones, *, as_of, by: str | None = None) -> pd.DataFrame:
    """Cases per zone and outcome at ``as_of`` (the rule of :func:`civgis.analysis.cases.case_states`).

    Parameters
    ----------
    cases : GeoDataFrame
        Inspection cases (``case_id, reported_at, deadline, closed_at, status``; point geometry).
    zones : GeoDataFrame or None
        The ``zones`` layer (same CRS); None puts every case in 未划分责任区.
    as_of : Timestamp
        The instant (already resolved: :func:`civgis.analysis.cases.as_of_instant`).
    by : str, optional
        A column of ``cases`` to count by as well, e.g. the county of a province-wide table
        (zones then carry ids unique across the province).

    Returns
    -------
    DataFrame indexed by ``zone_id`` — every zone in layer order, then :data:`UNZONED` — with the
    integer columns :data:`ZONE_TOTAL_COLUMNS`: ``cases`` = cases reported by ``as_of`` (in scope),
    the four outcomes (they add up to ``cases``) and ``excluded_after_as_of``. With ``by``: indexed
    by (``by``, ``zone_id``), only the pairs that have cases, sorted; ``.groupby(level=0).sum()``
    gives the totals per ``by`` value.
    """
    ids = [] if zones is None else zones["zone_id"].astype(str).tolist()
    index = pd.Index([*ids, UNZONED], name="zone_id", dtype=object)
    if len(cases) == 0:
        if by is not None:
            empty = pd.MultiIndex.from_arrays([[], []], names=[by, "zone_id"])
            return pd.DataFrame(np.zeros((0, len(ZONE_TOTAL_COLUMNS)), np.int64), index=empty,
                                columns=ZONE_TOTAL_COLUMNS)
        return pd.DataFrame(0, index=index, columns=ZONE_TOTAL_COLUMNS, dtype=np.int64)
    cases = cases.reset_index(drop=True)
    states = case_states(cases, as_of, zones)
    key = states["zone_id"].astype(object).where(states["zone_id"].notna(), UNZONED).to_numpy(dtype=object)
    flags = pd.DataFrame({"cases": states["in_scope"], **{k: states[k] for k in OUTCOMES},
                          "excluded_after_as_of": ~states["in_scope"]}).astype(np.int64)
    if by is not None:
        groups = [cases[by].astype(object).to_numpy(), key]
        counts = flags.groupby(groups).sum().rename_axis([by, "zone_id"])
        return counts.sort_index().astype(np.int64)
    counts = flags.groupby(key).sum()
    return counts.reindex(index, fill_value=0).astype(np.int64)


def _add_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """Sum of per-partition count tables (rows missing in one count 0)."""
    total = reduce(lambda a, b: a.add(b, fill_value=0), tables)
    return total.sort_index() if isinstance(total.index, pd.MultiIndex) else total


def totals_from_zone_counts(table: pd.DataFrame, as_of) -> dict:
    """The county totals of the ledger (:attr:`civgis.analysis.ledger.Ledger.totals`) from :func:`zone_totals`.

    ``closure_rate`` = closed / cases and ``on_time_rate`` = closed on time / closed (fractions,
    NaN when the denominator is 0); ``median_days_to_close`` is NaN (a median is not a sum of parts).
    """
    t = {c: int(table[c].sum()) for c in ZONE_TOTAL_COLUMNS}
    n, closed = t["cases"], t["closed_on_time"] + t["closed_late"]
    return {"cases": n, "closed": closed, "closed_on_time": t["closed_on_time"], "closed_late": t["closed_late"],
            "open": n - closed, "open_within_deadline": t["open_within_deadline"], "overdue": t["overdue"],
            "closure_rate": closed / n if n else float("nan"),
            "on_time_rate": t["closed_on_time"] / closed if closed else float("nan"),
            "median_days_to_close": float("nan"), "excluded_after_as_of": t["excluded_after_as_of"],
            "as_of": pd.Timestamp(as_of)}


def _partition_zone_totals(part, zones, as_of, crs, x, y, by) -> pd.DataFrame:
    return zone_totals(_as_points(part, crs, x, y), zones, as_of=as_of, by=by)


def zone_totals_dask(cases, zones, *, as_of=None, by: str | None = None, x: str = "x", y: str = "y",
                     client=None, split_every: int = 8) -> pd.DataFrame:
    """:func:`zone_totals` of a case table larger than memory, partition by partition on Dask.

    Parameters
    ----------
    cases : dask_geopandas.GeoDataFrame | dask.dataframe.DataFrame | str | Path
        Cases with point geometry, or ``x``/``y`` columns in the CRS of ``zones``; a path/glob is read
        as GeoParquet with dask-geopandas when it has a geometry column, else as plain Parquet.
    zones : GeoDataFrame or None
        The county's ``zones`` layer (small: it is sent once to every worker).
    as_of : date-like, optional
        The instant (a date means the end of that day; None the end of today).
    by : str, optional
        Also count by this column (the county of a province-wide table): see :func:`zone_totals`.
    client : distributed.Client, optional
        Run on this cluster (default: the current default scheduler).

    Returns
    -------
    DataFrame exactly equal to ``zone_totals(all_cases, zones, as_of=as_of, by=by)``.
    """
    import dask

    cases = _read_cases(cases)
    T = as_of_instant(as_of)
    crs = getattr(zones, "crs", None)
    zones_d = dask.delayed(zones, pure=True, traverse=False)
    fn = dask.delayed(_partition_zone_totals, pure=True)
    tables = [fn(p, zones_d, T, crs, x, y, by) for p in cases.to_delayed()]
    add = dask.delayed(_add_tables, pure=True)
    while len(tables) > 1:   # tree reduction of small per-zone tables
        tables = [add(*tables[i:i + split_every]) for i in range(0, len(tables), split_every)]
    if not tables:
        return zone_totals(pd.DataFrame(), zones, as_of=T, by=by)
    total = client.compute(tables[0]).result() if client is not None else tables[0].compute()
    return total.astype(np.int64)


def _read_cases(cases):
    """A path/glob of Parquet → a Dask frame (GeoParquet through dask-geopandas); frames pass through."""
    if not isinstance(cases, (str, Path)):
        return cases
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    path = Path(cases)
    first = next(iter(sorted(path.glob("*.parquet")) if path.is_dir() else [path]), None)
    if first is not None and first.exists() and b"geo" in (pq.read_schema(first).metadata or {}):
        import dask_geopandas

        return dask_geopandas.read_parquet(str(cases))
    return dd.read_parquet(str(cases))
