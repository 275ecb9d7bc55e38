"""Import speed: civgis's importer against the honest floor of the same job, in one run.

* 1 000 000 lamp points from a GCJ-02 CSV (Chinese headers): civgis reads, converts GCJ-02 → WGS84,
  conforms (aliases, coded values), validates, reprojects and writes the GeoPackage atomically.
* 100 000 polygons from a GeoPackage: civgis's full import.

The floor is what any importer must do at least: read the file the fastest way available
(pandas with the pyarrow engine for the CSV, pyogrio with Arrow for the GeoPackage — the
fastest of the readers timed), make the geometries, reproject to the workspace CRS and write
one GeoPackage layer. ``pyogrio.read_dataframe`` of the CSV, the baseline of the first release,
is printed too: it is several times slower than pandas' read, so a ratio against it flatters.

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
    t_ogr, base = timed(lambda: pyogrio.read_dataframe(csv, X_POSSIBLE_NAMES="经度", Y_POSSIBLE_NAMES="纬度"))
    t_pd, _ = timed(lambda: pd.read_csv(csv))
    t_pa, df = timed(lambda: pd.read_csv(csv, engine="pyarrow"))
    t_read = min(t_pd, t_pa)
    ws = Workspace.create(tmp / "ws1.gpkg")
    t_ours, report = timed(lambda: import_file(ws, "lamps", csv, coords="gcj02"))
    crs = ws.crs
    t_rest, _ = timed(lambda: pyogrio.write_dataframe(
        gpd.GeoDataFrame(df, geometry=shapely.points(df["经度"].to_numpy(), df["纬度"].to_numpy()), crs=4326).to_crs(crs),
        tmp / "floor1.gpkg", layer="lamps"))
    assert report.count == len(base) == len(df) == args.points
    rows.append(("lamps CSV (GCJ-02)", args.points, t_ogr, t_read, t_read + t_rest, t_ours))
    print(f"lamps CSV read: pyogrio {t_ogr:.2f} s, pandas {t_pd:.2f} s, pandas+pyarrow {t_pa:.2f} s")

    t_ogr, base = timed(lambda: pyogrio.read_dataframe(gpkg))
    t_read, gdf = timed(lambda: pyogrio.read_dataframe(gpkg, use_arrow=True))
    t_read = min(t_ogr, t_read)
    ws = Workspace.create(tmp / "ws2.gpkg")
    t_ours, report = timed(lambda: import_file(ws, "green", gpkg))
    t_rest, _ = timed(lambda: pyogrio.write_dataframe(gdf.to_crs(ws.crs), tmp / "floor2.gpkg", layer="green"))
    assert report.count == len(base) == args.polygons
    rows.append(("green GeoPackage polygons", args.polygons, t_ogr, t_read, t_read + t_rest, t_ours))

    print(f"{'import':28s} {'features':>10s} {'pyogrio read':>13s} {'fastest read':>13s} {'floor':>7s} "
          f"{'civgis':>7s} {'÷ floor':>8s} {'÷ pyogrio read':>15s}")
    for name, n, t_ogr, t_read, t_floor, to in rows:
        print(f"{name:28s} {n:>10,d} {t_ogr:>12.2f}s {t_read:>12.2f}s {t_floor:>6.2f}s {to:>6.2f}s "
              f"{to / t_floor:>7.2f}× {to / t_ogr:>14.2f}×")
    print("floor = fastest read + geometries + reproject + one GeoPackage write; civgis import = read + "
          "GCJ-02→WGS84 + conform + validate + reproject + atomic GeoPackage write")


if __name__ == "__main__":
    main()
