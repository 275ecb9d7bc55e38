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

* ``--render``: the report's printed outputs on the cached demo county — every zone's patrol PDF
  plus the combined PDF (``render_patrol_maps``), and the Gi* and emerging hot-spot maps (web page
  and PNG). Run it once on the code before a change and once after, back to back, to compare. It
  prints wall and CPU seconds (this process plus its pool workers): on a shared machine CPU time
  is the fair comparison, wall time shows what the process pool buys when cores are free.

  Measured 2026-12-02 on the demo (48 347 hex cells, 50 zones), 2 cores shared with other jobs
  (load average 9–10, so wall times are inflated and the pool could not gain), before = bbb0a12:

  ============================  ==============  ====================================
  output                        before CPU (s)  after CPU (s)
  ============================  ==============  ====================================
  hotspot_map Gi* / emerging    3.88 / 4.73     2.58 / 2.16 (no simplify; + streets, zones)
  hotspot_png Gi* / emerging    1.45 / 1.35     1.48 / 1.68 (+ streets, zones, labels)
  patrol PDFs, same pages       23.4            14.1 serial, 13.1 pool (each page drawn once,
                                                one font embedding per worker)
  patrol PDFs + checklists      —               21.9 serial, 27.4 pool (≈ 55 checklist pages)
  ============================  ==============  ====================================

* ``--patrol [--against CHECKOUT]``: ``render_patrol_maps`` on the demo (50 zone maps, 54 checklist
  pages, the combined PDF) with 1 and 2 workers, each run in a fresh process, alternating with
  another checkout when given. See the table of the patrol-map speed-up below.

  Patrol maps, measured 2026-12-02 on the demo (before = a143594, after = this branch), the two
  run alternately in one script; the machine was shared (load average 3-4 on 2 cores, so wall
  and even CPU seconds swing by ±30 %; compare pairs, not rows):

  ============================  ====================  ====================
  run (wall s / CPU s)          before                after
  ============================  ====================  ====================
  workers=1, pair 1             69.7 / 47.4           42.0 / 33.7
  workers=2, pair 1             72.4 / 51.0           39.1 / 38.2
  workers=1, pair 2             70.4 / 47.9           48.2 / 35.1
  workers=1, pair 3             60.5 / 43.3           49.2 / 32.9
  workers=1, ``--patrol``       34.9 / 32.1           38.6 / 34.0
  workers=2, ``--patrol``       44.5 / 39.4           43.7 / 37.8
  workers=2, after run first    50.2 / 49.4           39.2 / 39.2
  workers=1, after run first    44.2 / 43.6           35.1 / 33.5
  workers=1, ``--patrol`` #2    34.6 / 34.4           38.8 / 32.9
  workers=2, ``--patrol`` #2    43.2 / 43.5           38.9 / 40.9
  ============================  ====================  ====================

  The parts, timed in one process, old and new code alternating (CPU s, best of 4): 10 zone maps
  drawn and saved 5.25 → 4.07 (collections instead of geopandas ``.plot``); their checklist pages
  2.09 → 1.75 (one ``PageText`` a page); splitting the 104 pages into 50 PDFs 2.63 → 0.44 and the
  combined PDF 0.13–0.31 → 0.02 (pikepdf instead of pypdf); the font subset 1.4–3.5 → 0.01 when
  kept from an earlier run. Every page is pixel-identical to before (PNG and 60 dpi PDF renders).

Usage: python bench/bench_maps.py [--scale 1.0] [--zones N] [--png] [--webmap-only] [--render]
       [--patrol [--against CHECKOUT] [--rounds N]]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_cpu(fn):
    """(wall s, CPU s of this process and its reaped children, result): CPU time is the fair figure on a
    shared machine, wall time shows what the process pool buys."""
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, _cpu() - c0, out


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
def bench_render(zones: int | None = None) -> dict[str, float]:
    """Seconds of the report's printed outputs on the cached demo county (see the module docstring)."""
    import inspect

    from civgis.analysis.hotspots import hotspots_workspace
    from civgis.analysis.trends import CATEGORY_COLOURS, CATEGORY_LABELS_ZH, emerging_hotspots_workspace
    from civgis.demo import demo_workspace
    from civgis.render import hotspots as hsr
    from civgis.render.printmaps import render_patrol_maps

    ws = demo_workspace()
    ids = list(ws.read("zones")["zone_id"].astype(str))[:zones] if zones else None
    built, zl, roads = ws.read("built_up"), ws.read("zones"), ws.read_optional("roads")
    res = hotspots_workspace(ws)
    em = emerging_hotspots_workspace(ws, res, by="month")
    ecells = gpd.GeoDataFrame(em.cells.drop(columns=["geometry"]), geometry=res.cells.geometry.values,
                              crs=res.cells.crs)
    ecells.attrs.update(res.cells.attrs)
    ctx = {"zones": zl, "roads": roads} if "zones" in inspect.signature(hsr.hotspot_png).parameters else {}
    em_kw = dict(column="category", labels=CATEGORY_LABELS_ZH, colours=CATEGORY_COLOURS)
    new = "workers" in inspect.signature(render_patrol_maps).parameters
    patrol = [("render_patrol_maps pdf", {})]
    if new:   # the split of the new code: same pages as before (no checklist), serial, and as the report runs it
        patrol = [("patrol pdf, no checklist, serial", {"workers": 1, "checklist": False}),
                  ("patrol pdf, no checklist, pool", {"checklist": False}),
                  ("patrol pdf + checklist, serial", {"workers": 1}),
                  ("patrol pdf + checklist, pool", {})]
    out: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs = {
            "hotspot_map gi": lambda: hsr.save_folium(hsr.hotspot_map(res.cells, built_up=built, **ctx), tmp / "h.html"),
            "hotspot_map emerging": lambda: hsr.save_folium(hsr.hotspot_map(ecells, built_up=built, **ctx, **em_kw),
                                                            tmp / "e.html"),
            "hotspot_png gi": lambda: hsr.hotspot_png(res.cells, tmp / "h.png", built_up=built, **ctx),
            "hotspot_png emerging": lambda: hsr.hotspot_png(ecells, tmp / "e.png", built_up=built, **ctx, **em_kw)}
        for k, (label, kw) in enumerate(patrol):
            jobs[label] = lambda k=k, kw=kw: render_patrol_maps(ws, ids, tmp / f"pdf{k}", fmt="pdf", progress=False,
                                                                combined=True, as_of="2026-11-28", **kw)
        for label, job in jobs.items():
            wall, cpu, _ = timed_cpu(job)
            out[label] = (wall, cpu)
        paths = sorted((tmp / "pdf0").iterdir())
    n = len(ids) if ids else len(zl)
    print(f"demo county: {len(res.cells)} hex cells, {n} zones ({len(paths)} PDFs incl. the combined one); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  {'':34s} {'wall':>8s} {'CPU':>8s}")
    for k, (w, c) in out.items():
        print(f"  {k:34s} {w:7.2f}s {c:7.2f}s")
    return out


_PATROL_RUN = """
import datetime, json, os, sys, tempfile, time
from civgis.demo import demo_workspace
from civgis.render.printmaps import render_patrol_maps
from civgis.store.layers import Layers
layers = Layers(demo_workspace())
with tempfile.TemporaryDirectory(prefix="bench-patrol-") as out:
    c0, t0 = os.times(), time.perf_counter()
    paths = render_patrol_maps(layers, out_dir=out, fmt="pdf", progress=False, as_of="2026-11-28",
                               date=datetime.date(2026, 12, 2), workers=int(sys.argv[1]))
    wall, c1 = time.perf_counter() - t0, os.times()
cpu = sum(c1[:4]) - sum(c0[:4])
print(json.dumps({"wall": wall, "cpu": cpu, "files": len(paths)}))
"""


def bench_patrol(against: str | None, rounds: int = 1) -> None:
    """``render_patrol_maps`` on the demo (50 zones, checklists, combined PDF), workers 1 and 2.

    Each run is a fresh process (``PYTHONPATH`` = the checkout), so the font subset, imports and
    font caches start as a real run's do; with ``against`` (another checkout, e.g. a ``git worktree``
    of main) the two alternate, so both see the same load on a shared machine.
    """
    import json
    import subprocess
    import sys

    here = str(Path(__file__).resolve().parent.parent)
    roots = [("this", here)] + ([("against", str(Path(against).resolve()))] if against else [])
    for _ in range(rounds):
        for workers in (1, 2):
            for label, root in roots:
                env = {**os.environ, "PYTHONPATH": root}
                res = subprocess.run([sys.executable, "-c", _PATROL_RUN, str(workers)], env=env, check=True,
                                     capture_output=True, text=True)
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"  {label:8s} workers={workers}: {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU, "
                      f"{r['files']} files  ({root})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="demo county scale (1.0 = the demo)")
    ap.add_argument("--zones", type=int, default=None, help="render only the first N zones")
    ap.add_argument("--png", action="store_true", help="also time PNG output (150 dpi)")
    ap.add_argument("--webmap-only", action="store_true", help="only the web maps (write_all_maps)")
    ap.add_argument("--render", action="store_true", help="time the report's printed outputs on the demo")
    ap.add_argument("--patrol", action="store_true", help="time render_patrol_maps on the demo, workers 1 and 2")
    ap.add_argument("--against", default=None, help="with --patrol: another checkout to time alternately")
    ap.add_argument("--rounds", type=int, default=1, help="with --patrol: repetitions")
    args = ap.parse_args()
    if args.patrol:
        bench_patrol(args.against, args.rounds)
        return
    if args.render:
        bench_render(args.zones)
        return

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
