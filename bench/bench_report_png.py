"""The report's county overview PNG: zones filled from a colour array vs ``plot(column="zone_id")``.

* data: a synthetic square county of ``--zones`` square zones (default 50 and 500) with a few
  hundred roads, in a metric CRS; no workspace needed;
* timed, in one run: the old way (GeoPandas' categorical ``plot(column="zone_id", cmap="tab20")``)
  and :func:`civgis.render.report.county_overview_png` (one colour per zone from an array); the
  ratio old ÷ new is the figure to compare between machines.

Usage: nice python bench/bench_report_png.py [--zones 50 500]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import shapely

from civgis.render.report import county_overview_png

CRS = 4527


class _Frames:
    """The two methods ``county_overview_png`` calls on a workspace, over in-memory frames."""

    def __init__(self, frames: dict):
        self.frames = frames

    def has(self, name):
        return name in self.frames

    def read(self, name):
        return self.frames[name]


def county(n_zones: int) -> dict:
    side = math.ceil(math.sqrt(n_zones))
    cell = 400.0
    boxes = [shapely.box(i * cell, j * cell, (i + 1) * cell, (j + 1) * cell)
             for j in range(side) for i in range(side)][:n_zones]
    zones = gpd.GeoDataFrame({"zone_id": [f"Z{k:04d}" for k in range(n_zones)]}, geometry=boxes, crs=CRS)
    extent = side * cell
    lines = [shapely.LineString([(0, y), (extent, y)]) for y in range(0, int(extent), 100)]
    roads = gpd.GeoDataFrame({"road_id": range(len(lines))}, geometry=lines, crs=CRS)
    built = gpd.GeoDataFrame({"name": ["示范县建成区"]}, geometry=[shapely.box(0, 0, extent, extent)], crs=CRS)
    return {"built_up": built, "zones": zones, "roads": roads}


def old_way(frames: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=110)
    frames["built_up"].boundary.plot(ax=ax, color="#444", linewidth=1.2, linestyle="--")
    frames["zones"].plot(ax=ax, column="zone_id", cmap="tab20", alpha=0.35, edgecolor="#1f5fbf", linewidth=0.6)
    frames["roads"].plot(ax=ax, color="#616161", linewidth=0.5)
    ax.set_axis_off()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", type=int, nargs="+", default=[50, 500])
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-report-png-"))
    county_overview_png(_Frames(county(4)), out / "warm.png")  # fonts and caches, not timed
    print(f"{'zones':>6} {'plot(column=)':>14} {'colour array':>13} {'ratio':>6}")
    for n in args.zones:
        frames = county(n)
        t_old = timed(lambda frames=frames, n=n: old_way(frames, out / f"old-{n}.png"))
        t_new = timed(lambda frames=frames, n=n: county_overview_png(_Frames(frames), out / f"new-{n}.png"))
        print(f"{n:>6} {t_old:>13.2f}s {t_new:>12.2f}s {t_old / t_new:>6.1f}")


if __name__ == "__main__":
    main()
