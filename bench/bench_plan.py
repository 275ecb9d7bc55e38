"""Pass-plan speed (civgis plan): the plan on the demo county and on the 10× county, time per indicator.

* data: the demo county at ``--scale`` (1 = the demo; 10 = 175 km², ~500 zones, ~40 000 lamps),
  imported once through the real importers and cached in ``build/bench/indicators-s<scale>/`` (the
  same cache as ``bench_indicators.py``; ``--rebuild`` to regenerate);
* timed: the indicators the plan starts from (``compute_indicators``, city-wide), the audit, then
  :func:`civgis.analysis.plan.plan_frames` with its time per indicator (``PassPlan.seconds``), and
  the what-if (:func:`apply_plan`, in memory) followed by the indicators on the result — which must
  pass every indicator the plan said it reaches.

Usage: python bench/bench_plan.py [--scale 1 10] [--rebuild]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from civgis.analysis import indicators as ind
from civgis.analysis.audit import audit_workspace
from civgis.analysis.plan import apply_plan, plan_frames
from civgis.store.targets import load_targets

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("built_up", "zones", "green", "roads", "lamps", "toilets", "residential", "candidates")


# the cached demo-scale counties and the timer are bench_indicators' (same folders, built once)
from bench_indicators import timed, workspace  # noqa: E402


def bench(scale: float, rebuild: bool) -> None:
    ws = workspace(scale, rebuild)
    targets = load_targets(ws=ws)
    t_read, layers = timed(lambda: {n: ws.read_optional(n) for n in LAYERS})
    t_ind, table = timed(lambda: ind.indicator_table(layers["built_up"], green=layers["green"], roads=layers["roads"],
                                                       lamps=layers["lamps"], toilets=layers["toilets"],
                                                       residential=layers["residential"], targets=targets))
    t_audit, audit = timed(lambda: audit_workspace(ws))
    t_plan, plan = timed(lambda: plan_frames(layers, table, targets=targets, inspection_date="2027-06-30",
                                             as_of="2026-12-01", audit=audit))
    t_apply, changed = timed(lambda: apply_plan(layers, plan, audit=audit, targets=targets))
    new = {**layers, **changed}
    t_after, after = timed(lambda: ind.indicator_table(new["built_up"], green=new["green"], roads=new["roads"],
                                                         lamps=new["lamps"], toilets=new["toilets"],
                                                         residential=new["residential"], targets=targets))
    addressed = plan.gaps[~plan.gaps["passed"] & plan.gaps["reaches"]]
    ok = 0
    for r in addressed.itertuples():
        m = (after["indicator"] == r.indicator) & (after["scope"] == "city")
        m &= (after["road_class"] == r.road_class) if isinstance(r.road_class, str) else after["road_class"].isna()
        ok += bool(after.loc[m, "passed"].iloc[0])
    n = {k: len(v) for k, v in layers.items() if v is not None}
    print(f"\n== scale {scale:g}: {n}")
    print(f"read layers {t_read:6.2f} s | indicators {t_ind:6.2f} s | audit {t_audit:6.2f} s | plan {t_plan:6.2f} s "
          f"| apply {t_apply:5.2f} s | indicators after {t_after:6.2f} s")
    for k, v in plan.seconds.items():
        print(f"   plan {k:<24s} {v:7.3f} s")
    print(f"tasks {len(plan.tasks)} ({plan.tasks['kind'].value_counts().to_dict()})")
    print(f"addressed indicators passing after the what-if: {ok}/{len(addressed)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    for s in args.scale:
        bench(s, args.rebuild)


if __name__ == "__main__":
    main()
