"""A province on Dask (civgis province): N counties on a LocalCluster against the same counties one after another.

* data: ``--distinct`` demo counties (different seeds) at ``--scale`` (0.2 ≈ a 3.5 km² town, 6 000
  cases), built once through the real importers and cached in ``build/bench/province-s<scale>/``,
  then copied to ``--counties`` county folders (``--rebuild`` to regenerate);
* timed, in one run: (1) every county one after another in this process with
  :func:`civgis.run.province.run_county` — the very task the cluster runs; (2)
  :func:`civgis.run.province.run_province` on a new LocalCluster of ``--workers`` single-threaded
  processes, start-up included (and printed apart), tables written;
* printed: each round, and the best of ``--rounds`` alternated rounds; the CPU seconds of both ways
  (on a loaded shared machine the wall-clock ratio shows the share of the cores this job got);
* checked: both give the same numbers for every county (indicators, audit, ledger totals).

Usage: nice python bench/bench_province.py [--counties 20] [--workers 2] [--scale 0.2] [--plan] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
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


def burn(seconds: float = 1.0) -> float:
    """A fixed amount of pure-Python CPU work (≈ ``seconds`` on an idle core): the control task."""
    total, k = 0.0, 0
    for k in range(int(4e6 * seconds)):
        total += k % 7
    return total


def control(client, n: int = 8) -> tuple[float, float]:
    """The same ``n`` control tasks one after another here and on the cluster: the speed-up the
    machine offers right now (2× on 2 idle cores; less when other jobs hold them)."""
    t = time.perf_counter()
    for _ in range(n):
        burn()
    here = time.perf_counter() - t
    client.gather(client.map(burn, [1.0] * client.ncores().__len__(), pure=False))   # warm the workers
    t = time.perf_counter()
    client.gather(client.map(burn, [1.0] * n, pure=False))
    return here, time.perf_counter() - t


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
    ap.add_argument("--rounds", type=int, default=2, help="alternate the two ways this many times (best printed)")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    paths = counties(args.counties, args.distinct, args.scale, args.rebuild)
    print(f"\n== {len(paths)} counties (scale {args.scale:g}, {args.distinct} distinct), plan {'on' if args.plan else 'off'}")

    rounds = []
    for k in range(args.rounds):   # alternated, so a change in the machine's load falls on both
        t, cpu = time.perf_counter(), time.process_time()
        alone = [run_county(p, as_of=AS_OF, plan=args.plan) for p in paths]
        t_seq, cpu_seq = time.perf_counter() - t, time.process_time() - cpu
        out = Path(tempfile.mkdtemp(prefix="bench-province-"))
        t = time.perf_counter()
        with province_client(workers=args.workers) as client:
            t_start = time.perf_counter() - t
            result = run_province(paths, out, client=client, as_of=AS_OF, plan=args.plan, progress=False)
            t_dask = time.perf_counter() - t
            c_here, c_cluster = control(client)
        cpu_tasks = sum(c.cpu_seconds for c in result.counties)
        shutil.rmtree(out, ignore_errors=True)
        print(f"round {k + 1}: one after another {t_seq:6.1f} s (CPU {cpu_seq:5.1f} s) | LocalCluster {args.workers} workers "
              f"{t_dask:6.1f} s (start-up {t_start:4.1f} s, task CPU {cpu_tasks:5.1f} s) | ratio {t_seq / t_dask:4.2f}×"
              f" | control: 8 CPU tasks {c_here:4.1f} s here, {c_cluster:4.1f} s on the cluster = {c_here / c_cluster:4.2f}×"
              f" possible now")
        rounds.append((t_seq, t_dask, t_start))
    t_seq, t_dask, t_start = min(r[0] for r in rounds), min(r[1] for r in rounds), min(r[2] for r in rounds)
    print(f"best of {args.rounds}: one after another {t_seq:.1f} s ({t_seq / len(paths):.2f} s a county), "
          f"LocalCluster {t_dask:.1f} s (start-up {t_start:.1f} s) → {t_seq / t_dask:.2f}× "
          f"(tasks alone {t_seq / (t_dask - t_start):.2f}×); machine load now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    same = [same_numbers(a, b) for a, b in zip(alone, result.counties)]
    print(f"same numbers as each county alone: {sum(same)}/{len(same)}; failed counties: "
          f"{sum(bool(c.error) for c in result.counties)}")


if __name__ == "__main__":
    main()
