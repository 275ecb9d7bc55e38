"""A province on Dask (civgis province): N counties on a LocalCluster against the same counties one after another.

* data: ``--distinct`` demo counties (different seeds) at ``--scale`` (0.2 ≈ a 3.5 km² town, 6 000
  cases), built once through the real importers and cached in ``build/bench/province-s<scale>/``,
  then copied to ``--counties`` county folders (``--rebuild`` to regenerate);
* timed, in one run: (1) every county one after another in this process with
  :func:`civgis.run.province.run_county` — the very task the cluster runs; (2)
  :func:`civgis.run.province.run_province` on a new LocalCluster of ``--workers`` single-threaded
  processes, start-up included (and printed apart), tables written;
* checked: both give the same numbers for every county (indicators, audit, ledger totals).

Usage: nice python bench/bench_province.py [--counties 20] [--workers 2] [--scale 0.2] [--plan] [--rebuild]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from civgis.demo import build_demo_workspace
from civgis.run.province import province_client, run_county, run_province

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-28"


def counties(n: int, distinct: int, scale: float, rebuild: bool) -> list[Path]:
    """``n`` county workspaces (copies of ``distinct`` demo counties), cached."""
    root = REPO / "build" / "bench" / f"province-s{scale:g}"
    if rebuild and root.exists():
        shutil.rmtree(root)
    bases = []
    for k in range(distinct):
        base = root / "_base" / f"seed{k}"
        if not (base / "county.gpkg").exists():
            t = time.perf_counter()
            build_demo_workspace(base, seed=20261128 + k, scale=scale)
            print(f"built base county {k} in {time.perf_counter() - t:.0f} s")
        bases.append(base / "county.gpkg")
    paths = []
    for i in range(n):
        path = root / "counties" / f"县{i + 1:02d}" / "county.gpkg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bases[i % distinct], path)
        paths.append(path)
    return paths


def same_numbers(a, b) -> bool:
    """Indicators, audit summary and ledger totals of two runs of one county are equal."""
    if a.error or b.error:
        return a.error == b.error
    va, vb = a.indicators["value"].to_numpy(float), b.indicators["value"].to_numpy(float)
    ledger = {k: v for k, v in (a.ledger or {}).items() if k != "as_of"}
    other = {k: v for k, v in (b.ledger or {}).items() if k != "as_of"}
    return (np.allclose(va, vb, rtol=1e-12, equal_nan=True) and a.audit == b.audit
            and all(ledger[k] == other[k] or (np.isnan(ledger[k]) and np.isnan(other[k])) for k in ledger))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=20)
    ap.add_argument("--distinct", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--plan", action="store_true", help="also the pass plan of every county (≈ 3× longer)")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    paths = counties(args.counties, args.distinct, args.scale, args.rebuild)
    print(f"\n== {len(paths)} counties (scale {args.scale:g}, {args.distinct} distinct), plan {'on' if args.plan else 'off'}")

    t = time.perf_counter()
    alone = [run_county(p, as_of=AS_OF, plan=args.plan) for p in paths]
    t_seq = time.perf_counter() - t
    print(f"one after another (this process)  {t_seq:7.1f} s  ({t_seq / len(paths):.2f} s a county)")

    out = Path(tempfile.mkdtemp(prefix="bench-province-"))
    t = time.perf_counter()
    with province_client(workers=args.workers) as client:
        t_start = time.perf_counter() - t
        result = run_province(paths, out, client=client, as_of=AS_OF, plan=args.plan, progress=False)
    t_dask = time.perf_counter() - t
    print(f"LocalCluster {args.workers} workers             {t_dask:7.1f} s  (start-up {t_start:.1f} s, "
          f"tasks and tables {t_dask - t_start:.1f} s)")
    print(f"ratio one-after-another / cluster  {t_seq / t_dask:5.2f}×  (tasks only {t_seq / (t_dask - t_start):.2f}×; "
          f"{args.workers} workers on the cores this machine has)")
    same = [same_numbers(a, b) for a, b in zip(alone, result.counties)]
    print(f"same numbers as each county alone: {sum(same)}/{len(same)}; failed counties: "
          f"{sum(bool(c.error) for c in result.counties)}; tables in {out}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
