"""Scale-out: the Dask (LocalCluster) counting path gives exactly the single-machine counts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from civgis.analysis import hotspots as hs
from civgis.analysis.scale import count_in_hexes_dask, hotspots_dask

X0, Y0 = 39_500_000.0, 3_700_000.0


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(8)
    n = 60_000
    xy = np.r_[np.column_stack([rng.uniform(X0 - 200, X0 + 5200, n), rng.uniform(Y0 - 200, Y0 + 4200, n)]),
               rng.normal([X0 + 1500, Y0 + 2500], 120, (8000, 2))]
    m = len(xy)
    return gpd.GeoDataFrame({
        "case_id": np.char.add("C", np.arange(m).astype(str)),
        "category": rng.choice(["0102", "0501", "0503", "0601"], m),
        "reported_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, m), unit="h"),
    }, geometry=shapely.points(xy), crs=4527)


def test_dask_counts_equal_single_machine_on_a_local_cluster(client, cases, tmp_path):
    import dask.dataframe as dd
    import dask_geopandas

    area = box(X0, Y0, X0 + 5000, Y0 + 4000)
    grid = hs.hex_grid(area, 90.0, crs=4527)
    single = hs.count_in_hexes(cases, grid)
    assert single.sum() < len(cases)            # some cases fall outside the grid and are not counted

    # 1. a dask-geopandas GeoDataFrame (geometry column), 7 partitions
    dgdf = dask_geopandas.from_geopandas(cases, npartitions=7)
    assert np.array_equal(count_in_hexes_dask(dgdf, grid, client=client), single)

    # 2. a table larger than memory arrives as Parquet files with x/y columns
    table = pd.DataFrame({"x": cases.geometry.x, "y": cases.geometry.y, "category": cases["category"],
                          "reported_at": cases["reported_at"]})
    folder = tmp_path / "cases"
    dd.from_pandas(table, npartitions=5).to_parquet(folder)
    assert np.array_equal(count_in_hexes_dask(folder, grid, client=client), single)

    # 3. the same filters as the single-machine path
    filtered = hs.filter_cases(cases, category="05", since="2025-03-01", until="2025-07-01")
    expect = hs.count_in_hexes(filtered, grid)
    got = count_in_hexes_dask(dd.read_parquet(folder), grid, category="05", since="2025-03-01",
                              until="2025-07-01", client=client)
    assert np.array_equal(got, expect) and expect.sum() > 0


def test_dask_hotspots_equal_single_machine(client, cases):
    import dask_geopandas

    area = gpd.GeoSeries([box(X0, Y0, X0 + 5000, Y0 + 4000)], crs=4527)
    ref = hs.hotspots(cases, area, cell_size=120.0, band=400.0)
    got = hotspots_dask(dask_geopandas.from_geopandas(cases, npartitions=4), area, cell_size=120.0, band=400.0,
                        client=client)
    assert np.array_equal(got.cells["count"].to_numpy(), ref.cells["count"].to_numpy())
    assert np.allclose(got.cells["gi_z"], ref.cells["gi_z"], atol=1e-12)
    assert np.array_equal(got.cells["gi_bin"].to_numpy(), ref.cells["gi_bin"].to_numpy())
    assert got.cells["gi_bin"].max() == 3
