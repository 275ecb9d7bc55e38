"""The readiness report at 1×, 2×, 5× and 10× the demo county: total, per section, log-log slope,
against the read floor and against the previous release, in one run.

* data: the demo county (scale 1, ``civgis.demo.demo_workspace``) and the county generated at
  each other scale, imported through the real importers and cached in
  ``build/bench/indicators-s<scale>/`` (shared with bench_indicators.py and bench_plan.py);
* floor: reading every vector layer of the workspace once — as GeoDataFrames (``Workspace.read``,
  pyogrio), which any pipeline that draws or measures pays, and as raw Arrow tables
  (``pyogrio.read_arrow``, no geometry objects), the lowest a read can go;
* this code: ``civgis report WS --out DIR`` in a fresh process (with patrol maps unless
  ``--no-patrol-maps``), the workspace cache cleared first (a cold run; ``--warm`` also times a
  second run that finds the walking network and samples cached); the per-section seconds come
  from the report's own ``report.json``; the code's bytecode is compiled first, as an installed
  wheel's is;
* previous release: the same command run with the checkout ``--previous`` on the Python path
  (e.g. ``git archive <release> | tar -x -C DIR``; default ``/work/main``, which is only the
  previous release while nothing has been merged since), at the scales given by
  ``--previous-scales`` (default 1 only: the old report took 819 s at 10×).

Prints the table of scales × sections, the slope of log(seconds) against log(scale) for the total
and each section (1.0 = linear), and the ratios against the floor and the previous release.

With ``--repeat N`` each is run N times, interleaved (cold, warm, previous, cold, …), and the
median is reported with the spread: on a shared 2-core machine one run's wall time drifts by
±15 % (the same code 9.9–12.5 s cold within ten minutes).

Usage: python bench/bench_report.py [--scales 1 2 5 10] [--no-patrol-maps] [--warm] [--repeat 1]
                                    [--previous /work/main] [--previous-scales 1]
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyogrio

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_indicators import workspace as scaled_workspace  # noqa: E402  (the shared cached counties)

from civgis.store.cache import workspace_cache  # noqa: E402
from civgis.store.workspace import Workspace  # noqa: E402


def county(scale: float) -> Workspace:
    if scale == 1:
        from civgis.demo import demo_workspace

        return demo_workspace()
    return scaled_workspace(scale, rebuild=False)


def read_floor(ws: Workspace) -> tuple[float, float]:
    """(seconds to read every vector layer as GeoDataFrames, as raw Arrow tables)."""
    layers = [name for name in ws.layers() if name != "canopy"]
    t0 = time.perf_counter()
    for name in layers:
        ws.read(name)
    t_gdf = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in layers:
        pyogrio.read_arrow(ws.path, layer=name)
    return t_gdf, time.perf_counter() - t0


def run_report(ws: Workspace, code: Path, *, patrol: bool) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``civgis report`` with ``code`` on the path, and its per-section seconds."""
    out = Path(tempfile.mkdtemp(prefix="civgis-bench-report-"))
    cmd = [sys.executable, "-m", "civgis", "report", str(ws.path), "--out", str(out), "--as-of", "2026-11-28", "-q"]
    if not patrol:
        cmd.append("--no-patrol-maps")
    env = {**os.environ, "PYTHONPATH": str(code), "CIVGIS_PROGRESS": "0"}
    # its bytecode written first, as installing the wheel does (and `make demo`): where PYTHONDONTWRITEBYTECODE is
    # set, a checkout edited since its last import is otherwise compiled again in every run (~0.35 s on the demo)
    compileall.compile_dir(str(code / "civgis"), quiet=1)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/")
    wall = time.perf_counter() - t0
    try:
        if res.returncode not in (0, 1):     # 1: a section reported an error inside the report
            raise RuntimeError(f"report failed ({res.returncode}): {res.stderr[-2000:]}")
        data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    sections = {k: float(v.get("seconds", math.nan)) for k, v in data["sections"].items()}
    failed = [k for k, v in data["sections"].items() if not v.get("ok", True)]
    if failed:
        print(f"  (sections that reported an error: {', '.join(failed)})")
    return wall, sections


def _median_run(runs: list[tuple[float, dict]]) -> tuple[float, dict]:
    """The run of median wall time (the lower middle one of an even number) with its sections."""
    ordered = sorted(runs, key=lambda run: run[0])
    return ordered[(len(ordered) - 1) // 2]


def slope(scales, seconds) -> float:
    x, y = np.log(np.asarray(scales, float)), np.log(np.maximum(np.asarray(seconds, float), 1e-3))
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 else math.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0])
    ap.add_argument("--no-patrol-maps", action="store_true")
    ap.add_argument("--warm", action="store_true", help="also time a second run with the workspace cache filled")
    ap.add_argument("--previous", type=Path, default=Path("/work/main"),
                    help="checkout of the previous release (run with it on PYTHONPATH); '' to skip")
    ap.add_argument("--previous-scales", type=float, nargs="*", default=[1.0])
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each (cold, warm, previous) per scale, interleaved; the median is reported")
    args = ap.parse_args()
    patrol = not args.no_patrol_maps

    rows = []
    for scale in args.scales:
        ws = county(scale)
        t_gdf, t_arrow = read_floor(ws)
        cache = workspace_cache(ws).folder
        previous = bool(args.previous and str(args.previous) not in ("", ".") and scale in args.previous_scales)
        cold, warm, before = [], [], []
        for _ in range(args.repeat):   # interleaved, so a drift of the machine's speed falls on all three alike
            if cache is not None and cache.exists():
                shutil.rmtree(cache)                  # cold: this run computes what the cache would hold
            cold.append(run_report(ws, REPO, patrol=patrol))
            if args.warm:
                warm.append(run_report(ws, REPO, patrol=patrol)[0])
            if previous:
                before.append(run_report(ws, args.previous, patrol=patrol))
        wall, sections = _median_run(cold)
        row = {"scale": scale, "floor": t_gdf, "arrow": t_arrow, "wall": wall, "sections": sections,
               "walls": sorted(w for w, _ in cold)}
        if warm:
            row["warm"], row["warms"] = float(np.median(warm)), sorted(warm)
        if before:
            row["previous"], row["previous_sections"] = _median_run(before)
        rows.append(row)
        print(f"scale ×{scale:g}: report {wall:.1f} s, floor {t_gdf:.2f} s (arrow {t_arrow:.2f} s)"
              + (f", previous release {row['previous']:.1f} s" if "previous" in row else "")
              + "; sections " + ", ".join(f"{k} {v:.1f}" for k, v in sections.items()), flush=True)

    keys = list(rows[0]["sections"])
    print(f"\nreport {'with' if patrol else 'without'} patrol maps, seconds (cold workspace cache)")
    print(f"{'section':<12}" + "".join(f"{'×' + format(r['scale'], 'g'):>9}" for r in rows) + f"{'slope':>8}")
    for k in keys:
        vals = [r["sections"].get(k, math.nan) for r in rows]
        print(f"{k:<12}" + "".join(f"{v:>9.2f}" for v in vals) + f"{slope([r['scale'] for r in rows], vals):>8.2f}")
    walls = [r["wall"] for r in rows]
    print(f"{'total wall':<12}" + "".join(f"{v:>9.2f}" for v in walls)
          + f"{slope([r['scale'] for r in rows], walls):>8.2f}")
    print(f"{'read floor':<12}" + "".join(f"{r['floor']:>9.2f}" for r in rows))
    print(f"{'÷ floor':<12}" + "".join(f"{r['wall'] / r['floor']:>8.0f}×" for r in rows)
          + "   (goal ≤ 60× on the demo)")
    if args.warm:
        print(f"{'warm wall':<12}" + "".join(f"{r['warm']:>9.2f}" for r in rows))
    if args.repeat > 1:
        for r in rows:
            print(f"×{r['scale']:g}: {args.repeat} cold runs " + " ".join(f"{w:.2f}" for w in r["walls"])
                  + (" s; warm " + " ".join(f"{w:.2f}" for w in r["warms"]) if "warms" in r else "") + " s (median above)")
    for r in rows:
        if "previous" in r:
            print(f"×{r['scale']:g}: previous release {r['previous']:.1f} s → this {r['wall']:.1f} s "
                  f"(×{r['previous'] / r['wall']:.1f} faster); sections before → after: "
                  + ", ".join(f"{k} {r['previous_sections'].get(k, math.nan):.1f}→{r['sections'].get(k, math.nan):.1f}"
                              for k in keys))
    if len(rows) >= 2:
        print(f"log-log slope of the total: {slope([r['scale'] for r in rows], walls):.2f} (goal ≤ 1.05; "
              f"×{rows[-1]['scale'] / rows[0]['scale']:g} the county costs ×{walls[-1] / walls[0]:.1f})")


if __name__ == "__main__":
    main()
