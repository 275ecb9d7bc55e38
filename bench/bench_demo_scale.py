"""Demo county generation speed: scale 1 against scale N in one run, plus a per-lamp baseline.

* ``generate_demo_files`` at scale 1 and at ``--scale`` (default 10 ≈ 175 km², 1.5 M residents,
  ≈ 43 000 lamps, 300 000 cases): wall and CPU time, time per unit of scale (linear scaling
  would keep it flat), the sizes produced, and the time of each generation step.
* Lamp placement on the scale-N road network: the vectorised ``shapely.line_interpolate_point``
  over all (road, distance) pairs against a per-lamp Python loop (the obvious baseline).

Usage: python bench/bench_demo_scale.py [--scale 10] [--seed 20261128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

from civgis.demo import DEFAULT_SEED, generate_demo_files
from civgis.demo.plan import County as _County


def run(scale: float, seed: int, out: Path) -> dict:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    manifest = generate_demo_files(out, seed=seed, scale=scale)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    return {"scale": scale, "wall": wall, "cpu": cpu, "counts": manifest["counts"], "mb": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run(0.05, args.seed, Path(tmp) / "warm")  # first imports (GDAL drivers, openpyxl …) are not the generator's cost
        rows = [run(1.0, args.seed, Path(tmp) / "s1"), run(args.scale, args.seed, Path(tmp) / "sN")]
    print(f"{'scale':>6} {'wall s':>8} {'cpu s':>8} {'cpu s/scale':>12} {'km²':>7} {'residents':>10} "
          f"{'roads':>7} {'lamps':>7} {'green':>7} {'cases':>8} {'files MB':>9}")
    for r in rows:
        c = r["counts"]
        print(f"{r['scale']:>6g} {r['wall']:>8.2f} {r['cpu']:>8.2f} {r['cpu'] / r['scale']:>12.2f} "
              f"{c['built_up_area_m2'] / 1e6:>7.1f} {c['residents']:>10,} {c['roads']:>7,} {c['lamps']:>7,} "
              f"{c['green']:>7,} {c['inspections']:>8,} {r['mb']:>9.1f}")
    one, big = rows
    print(f"scale ×{args.scale:g} costs ×{big['cpu'] / one['cpu']:.1f} CPU time "
          f"(linear would be ×{args.scale:g}); default demo: {one['wall']:.1f} s wall (budget 30 s)")

    county = _County(args.seed, args.scale).build()
    print("\nsteps at scale", args.scale, ":", ", ".join(f"{k} {v:.2f}s" for k, v in county.timings.items()))

    # lamp placement: vectorised against a per-lamp loop, same lines and distances
    lines = county.roads_f
    length = shapely.length(lines)
    count = np.floor(length / 35.0).astype(int) + 1
    seg = np.repeat(np.arange(len(lines)), count)
    pos = (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)) * 35.0
    t0 = time.perf_counter()
    fast = shapely.line_interpolate_point(lines[seg], pos)
    t_fast = time.perf_counter() - t0
    n_loop = min(len(seg), 20000)
    t0 = time.perf_counter()
    slow = [lines[s].interpolate(p) for s, p in zip(seg[:n_loop], pos[:n_loop])]
    t_slow = (time.perf_counter() - t0) * len(seg) / n_loop
    assert shapely.equals(fast[:n_loop], np.array(slow, dtype=object)).all()
    print(f"\nlamp placement, {len(seg):,} lamps on {len(lines):,} roads: vectorised {t_fast * 1000:.0f} ms, "
          f"per-lamp loop {t_slow * 1000:.0f} ms (extrapolated from {n_loop:,}) → ×{t_slow / t_fast:.0f}")


if __name__ == "__main__":
    main()
