"""Patrol-map and audit speed on the demo county, against plain baselines, in one run.

* ``civgis maps --all --format pdf`` (every zone's page + the multi-page PDF): seconds per zone.
  Baseline: a bare GeoPandas ``.plot`` of the same zone, roads, lamps and toilets saved to PDF —
  no labels, legend, title block or scale bar — so the ratio is the cost of a finished page.
* ``audit_workspace`` (gaps, overlaps, neighbours, unassigned assets) against
  ``geopandas.overlay(built_up, zones, how="difference")`` (gaps only, no neighbours).

* ``write_all_maps`` (the county web map + one per zone, ``civgis webmap``): layers prepared once
  and zone pages in a process pool (``workers = os.cpu_count()``), against the same pages each
  prepared from its own clipped layers, serially (what every page paid before the shared
  preparation), and against the floor: every layer reprojected and serialised once by GeoPandas
  (``to_crs(4326).to_json()``) — no HTML, no styles, no popups.

Usage: python bench/bench_maps.py [--scale 1.0] [--zones N] [--png] [--webmap-only]

Measured 2026-12-02, 2 cores shared with other jobs (load average 5–9), old and new code in one process:

==========================  ======================  =======================
``write_all_maps``          demo (51 pages)         10× county (501 pages)
==========================  ======================  =======================
before (per-page layers)    18.7–33.0 s             868 s
prepared once, serial       4.5–5.9 s               38.1 s
prepared once, 2 workers    4.6–6.3 s               58.0 s
==========================  ======================  =======================

At 10× the split is: read 5.7 s, audit 5.9 s, ``prepare_map_data`` 4.7 s, county page 1.4 s,
500 zone pages 35 s wall / 13.7 s CPU (≈ 27 ms of CPU a page). On this loaded machine the pool
does not pay (each process gets a fraction of a core); the pages are identical either way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def baseline_pages(ws, zone_ids, out_dir: Path) -> None:
    from matplotlib.figure import Figure

    zones = ws.read("zones")
    layers = [ws.read_optional(n) for n in ("roads", "lamps", "toilets")]
    for zid in zone_ids:
        z = zones[zones["zone_id"] == zid]
        x0, y0, x1, y1 = z.total_bounds
        fig = Figure(figsize=(8.27, 11.69))
        ax = fig.add_subplot()
        z.boundary.plot(ax=ax, color="blue")
        for gdf in layers:
            if gdf is not None:
                gdf.cx[x0:x1, y0:y1].plot(ax=ax, markersize=3, linewidth=1)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        fig.savefig(out_dir / f"base_{zid}.pdf")


def webmap_timings(ws, out: Path) -> dict[str, float]:
    """Seconds of the web maps of ``ws``: pooled, serial, per-page preparation, and the GeoPandas floor."""
    import os

    from civgis.render import webmap

    layers = webmap.load_map_layers(ws)
    gaps, overlaps = webmap._resolve_audit("auto", None, None, ws)
    ids = [str(z) for z in layers["zones"]["zone_id"]]
    t = {}
    t["pool"], _ = timed(lambda: webmap.write_all_maps(ws, out / "pool", progress=False))
    t["serial"], _ = timed(lambda: webmap.write_all_maps(ws, out / "serial", progress=False, workers=1))
    t["prepare"], data = timed(lambda: webmap.prepare_map_data(layers, crs=ws.crs, gaps=gaps, overlaps=overlaps))

    def per_page():
        webmap.save_map(webmap.build_map(layers, crs=ws.crs, gaps=gaps, overlaps=overlaps), out / "pp" / "county.html")
        for zid in ids:
            m = webmap.build_zone_map(layers, zid, gaps=gaps, overlaps=overlaps, crs=ws.crs)
            webmap.save_map(m, out / "pp" / f"zone_{webmap._safe_name(zid)}.html", assets=False)

    t["per_page"], _ = timed(per_page)

    def floor():
        for name, gdf in layers.items():
            (out / f"floor_{name}.json").write_text(gdf.to_crs(4326).to_json(default=str), encoding="utf-8")

    t["floor"], _ = timed(floor)
    n = len(ids) + 1
    print(f"web maps, {n} pages ({os.cpu_count()} cores): write_all_maps {t['pool']:.1f} s pooled, "
          f"{t['serial']:.1f} s serial (of which prepare_map_data {t['prepare']:.1f} s); every page prepared "
          f"from its own clipped layers {t['per_page']:.1f} s (×{t['per_page'] / t['pool']:.1f} the pooled run); "
          f"floor (each layer to_crs + to_json once, no HTML) {t['floor']:.1f} s, pooled run ×{t['pool'] / t['floor']:.1f}")
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="demo county scale (1.0 = the demo)")
    ap.add_argument("--zones", type=int, default=None, help="render only the first N zones")
    ap.add_argument("--png", action="store_true", help="also time PNG output (150 dpi)")
    ap.add_argument("--webmap-only", action="store_true", help="only the web maps (write_all_maps)")
    args = ap.parse_args()

    from civgis.analysis.audit import audit_workspace
    from civgis.demo import build_demo_workspace, generate_demo_files
    from civgis.render.printmaps import render_patrol_maps

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_demo, _ = timed(lambda: generate_demo_files(tmp / "raw", scale=args.scale))
        ws = build_demo_workspace(tmp / "raw")
        zones = ws.read("zones")
        ids = list(zones["zone_id"].astype(str))[: args.zones] if args.zones else None
        n = len(ids) if ids else len(zones)
        print(f"demo county scale {args.scale}: {n} zones, {len(ws.read('roads'))} roads, "
              f"{len(ws.read('lamps'))} lamps (generated in {t_demo:.1f} s)")
        webmap_timings(ws, tmp / "web")
        if args.webmap_only:
            return

        t_audit, res = timed(lambda: audit_workspace(ws))
        t_ovl, _ = timed(lambda: gpd.overlay(ws.read("built_up"), ws.read("zones"), how="difference"))
        print(f"audit_workspace: {t_audit:.2f} s ({len(res.gaps)} gaps, {len(res.overlaps)} overlaps, "
              f"{len(res.slivers)} slivers); gpd.overlay difference alone: {t_ovl:.2f} s; "
              f"ratio {t_audit / t_ovl:.1f}×")

        (tmp / "pdf").mkdir()
        t_pdf, paths = timed(lambda: render_patrol_maps(ws, ids, tmp / "pdf", fmt="pdf", progress=False,
                                                        combined=True))
        size = sum(p.stat().st_size for p in paths) / 1e6
        (tmp / "base").mkdir()
        t_base, _ = timed(lambda: baseline_pages(ws, ids or list(zones["zone_id"].astype(str)), tmp / "base"))
        print(f"maps --all pdf: {t_pdf:.1f} s for {n} zones = {t_pdf / n:.2f} s/zone "
              f"({len(paths)} files, {size:.1f} MB incl. the {n}-page PDF); "
              f"bare GeoPandas plot baseline {t_base / n:.2f} s/zone; ratio {t_pdf / t_base:.1f}×")
        if args.png:
            t_png, _ = timed(lambda: render_patrol_maps(ws, ids, tmp / "png", fmt="png", progress=False))
            print(f"maps --all png (150 dpi): {t_png:.1f} s = {t_png / n:.2f} s/zone")


if __name__ == "__main__":
    main()
