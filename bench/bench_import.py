"""Import speed: civgis's importer against pyogrio alone reading the same file, in one run.

* 1 000 000 lamp points from a GCJ-02 CSV (Chinese headers): civgis reads, converts GCJ-02 → WGS84,
  conforms (aliases, coded values), validates, reprojects and writes the GeoPackage atomically.
  Baseline: ``pyogrio.read_dataframe`` of the same CSV (X/Y columns, no conversion, no write).
* 100 000 polygons from a GeoPackage: civgis's full import vs ``pyogrio.read_dataframe``.

Usage: python bench/bench_import.py [--points N] [--polygons N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from civgis.store import coords
from civgis.store.importers import import_file
from civgis.store.workspace import Workspace


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def make_lamps_csv(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    lon = 116.88 + rng.uniform(0, 0.5, n)
    lat = 33.28 + rng.uniform(0, 0.4, n)
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    pd.DataFrame({"路灯编号": np.char.add("L", np.arange(n).astype(str)), "经度": np.round(glon, 7),
                  "纬度": np.round(glat, 7), "状态": np.where(rng.random(n) < 0.03, "故障", "正常")}
                 ).to_csv(path, index=False)


def make_polygons_gpkg(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    x = 39490000 + rng.uniform(0, 40000, n)
    y = 3686000 + rng.uniform(0, 40000, n)
    geoms = shapely.buffer(shapely.points(x, y), rng.uniform(10, 60, n), quad_segs=4)
    gdf = gpd.GeoDataFrame({"green_id": np.char.add("G", np.arange(n).astype(str)),
                            "category": rng.choice(["公园绿地", "防护绿地", "附属绿地"], n)},
                           geometry=geoms, crs=4527)
    pyogrio.write_dataframe(gdf, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--polygons", type=int, default=100_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="civgis-bench-"))
    csv, gpkg = tmp / "lamps.csv", tmp / "green.gpkg"
    make_lamps_csv(csv, args.points)
    make_polygons_gpkg(gpkg, args.polygons)

    rows = []
    t_base, base = timed(lambda: pyogrio.read_dataframe(csv, X_POSSIBLE_NAMES="经度", Y_POSSIBLE_NAMES="纬度"))
    ws = Workspace.create(tmp / "ws1.gpkg")
    t_ours, report = timed(lambda: import_file(ws, "lamps", csv, coords="gcj02"))
    assert report.count == len(base) == args.points
    rows.append(("lamps CSV (GCJ-02)", args.points, t_base, t_ours))

    t_base, base = timed(lambda: pyogrio.read_dataframe(gpkg))
    ws = Workspace.create(tmp / "ws2.gpkg")
    t_ours, report = timed(lambda: import_file(ws, "green", gpkg))
    assert report.count == len(base) == args.polygons
    rows.append(("green GeoPackage polygons", args.polygons, t_base, t_ours))

    print(f"{'import':28s} {'features':>10s} {'pyogrio read s':>15s} {'civgis import s':>16s} {'ratio':>7s}")
    for name, n, tb, to in rows:
        print(f"{name:28s} {n:>10,d} {tb:>15.2f} {to:>16.2f} {to / tb:>7.2f}")
    print("civgis import = read + GCJ-02→WGS84 + conform + validate + reproject + atomic GeoPackage write")


if __name__ == "__main__":
    main()
