"""The demo's ``manifest.json``: import options of every file and the planted facts tests check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from civgis.demo.common import (DEMO_TODAY, PERIOD, COUNTY_NAME, CENTRE_LONLAT, CRS_EPSG, DEADLINE_HOURS, RIVER_NAME,
                                _union_area, _pt)
from civgis.demo.plan import County


__all__ = ["build_manifest", "load_manifest"]


def build_manifest(c: County, imports, *, zone_ids, road_ids, cand_ids, green_ids, canopy) -> dict:
    built = c.built_f
    # planted zone gaps (死角) and overlaps (交叉), measured on the final geometry
    zones = c.zones_f
    tree = shapely.STRtree(zones)
    gaps = []
    for gap in c.gaps_f:
        g = shapely.intersection(gap, built)
        near = sorted(zone_ids[i] for i in tree.query(g.buffer(1.0), predicate="intersects"))
        gaps.append({"area_m2": round(g.area, 2), **_pt(c, g.centroid.x, g.centroid.y), "zones": near,
                     "wkt": shapely.to_wkt(g, rounding_precision=3)})
    overlaps = []
    for _, a, b in c.zone_overlaps_plan:
        g = shapely.intersection(zones[a], zones[b])
        overlaps.append({"area_m2": round(g.area, 2), **_pt(c, g.centroid.x, g.centroid.y),
                         "zones": [zone_ids[a], zone_ids[b]], "wkt": shapely.to_wkt(g, rounding_precision=3)})
    missing = [{"zone_id": zone_ids[i], "field": f} for i, f in c.zone_missing]
    unlit = []
    for u in c.unlit:
        s = u["road_index"]
        unlit.append({"road_id": str(road_ids[s]), "road_name": str(c.roads_plan.name.iat[s]),
                      **{k: v for k, v in u.items() if k != "road_index"},
                      **{k: v for k, v in _pt(c, u["x"], u["y"]).items() if k in ("lon", "lat")}})
    # hot spots and the growing cluster
    cs = c.cases
    hotspots, growing = [], None
    for gi, grp in enumerate(c.case_groups):
        sel = cs[cs.group == gi]
        item = {"name": grp["name"], "kind": grp["kind"], "categories": list(grp["cats"]), **_pt(c, grp["x"], grp["y"]),
                "sigma_m": grp["sigma"], "count": int(len(sel))}
        if grp["kind"] == "growing":
            month = pd.to_datetime(sel.reported_at).dt.strftime("%Y-%m")
            growing = {**item, "start": c.grow_start,
                       "monthly_counts": {k: int(v) for k, v in month.value_counts().sort_index().items()}}
        else:
            hotspots.append(item)
    # the park-less district: a wedge of the outer town
    desert = c.warp.geoms(c.desert_plan)
    in_desert = shapely.intersects(desert, c.cand_f) if len(c.cand_f) else np.array([], bool)
    # green land facts (inside the built-up area; EG outside)
    cats = c.green_attr.category.to_numpy()
    inside = shapely.intersection(c.green_f, built)
    green = {"count": int(len(cats)), "by_category": {}}
    for cat in ["G1", "G2", "G3", "XG", "EG"]:
        sel = cats == cat
        green["by_category"][cat] = {"count": int(sel.sum()),
                                     "area_in_built_up_m2": round(_union_area(inside[sel]), 1),
                                     "area_total_m2": round(_union_area(c.green_f[sel]), 1)}
    counted = np.isin(cats, ["G1", "G2", "G3", "XG"])
    sum_area = float(shapely.area(inside[counted]).sum())
    union_area = _union_area(inside[counted])
    gtree = shapely.STRtree(c.green_f)
    pairs = gtree.query(c.green_f, predicate="intersects")
    pairs = pairs[:, pairs[0] < pairs[1]]
    pos = shapely.area(shapely.intersection(c.green_f[pairs[0]], c.green_f[pairs[1]])) > 1.0
    green.update({"sum_area_in_built_up_m2": round(sum_area, 1), "union_area_in_built_up_m2": round(union_area, 1),
                  "overlap_area_m2": round(sum_area - union_area, 1), "overlapping_pairs": int(pos.sum()),
                  "example_overlap_ids": [[green_ids[i], green_ids[j]] for i, j in pairs[:, pos][:, :5].T.tolist()]})
    lamps_broken = int(c.lamps_attr.broken.sum())
    roads = c.roads_plan
    length = shapely.length(c.roads_f)
    counts = {
        "built_up_area_m2": round(built.area, 1),
        "residents": int(c.res_attr.population.sum()),
        "residential_blocks": int(len(c.res_attr)),
        "zones": int(len(zone_ids)),
        "roads": int(len(roads)),
        "roads_by_class": {k: int(v) for k, v in roads.road_class.value_counts().sort_index().items()},
        "road_km_by_class": {k: round(float(length[roads.road_class.to_numpy() == k].sum()) / 1000, 3)
                             for k in sorted(roads.road_class.unique())},
        "lamps": int(len(c.lamps_attr)), "lamps_broken": lamps_broken,
        "toilets": int(len(c.toilets_attr)), "toilets_accessible": int(c.toilets_attr.accessible.sum()),
        "green": int(len(cats)), "candidates": int(len(cand_ids)),
        "inspections": int(len(cs)),
        "inspections_by_category": {k: int(v) for k, v in cs.category.value_counts().sort_index().items()},
        "inspections_open": int((cs.status == "open").sum()),
        "inspections_open_overdue": int(((cs.status == "open") & (cs.deadline < np.datetime64(DEMO_TODAY))).sum()),
        "inspections_closed_late": int(((cs.status == "closed") & (cs.closed_at > cs.deadline)).sum()),
        "inspections_at_broken_lamps": c.cases_at_broken_lamps,
    }
    return {
        "name": COUNTY_NAME, "seed": c.seed, "scale": c.scale, "crs": f"EPSG:{CRS_EPSG}",
        "crs_name": c.crs.name,
        "centre": {"lon": CENTRE_LONLAT[0], "lat": CENTRE_LONLAT[1], "x": round(c.e0, 3), "y": round(c.n0, 3)},
        "today": DEMO_TODAY, "period": list(PERIOD), "deadline_hours": DEADLINE_HOURS,
        "imports": imports,
        "canopy": canopy,
        "counts": counts,
        "planted": {
            "zone_gaps": gaps, "zone_overlaps": overlaps, "zones_missing_contact": missing,
            "unlit_stretches": unlit, "hotspots": hotspots, "growing_trend": growing,
            "park_desert": {"area_m2": round(desert.area, 1), **_pt(c, desert.centroid.x, desert.centroid.y),
                            "candidates": [cand_ids[i] for i in np.flatnonzero(in_desert)],
                            "wkt": shapely.to_wkt(desert, rounding_precision=2)},
            "green": green,
            "river": {"name": RIVER_NAME,
                      "wkt": shapely.to_wkt(c.warp.geoms(shapely.intersection(c.river, c.built.buffer(500))),
                                            rounding_precision=2)},
        },
    }



def load_manifest(out_dir) -> dict:
    """The manifest of a demo folder (``out_dir/manifest.json`` or ``out_dir/raw/manifest.json``)."""
    out = Path(out_dir)
    for candidate in (out / "manifest.json", out / "raw" / "manifest.json"):
        if candidate.exists():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"no manifest.json in {out}")
