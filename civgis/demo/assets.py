"""The demo county's street furniture and events on the final geometry: lamps, toilets, inspection cases.

:class:`Assets` is mixed into the plan (:class:`civgis.demo.plan.County`); its methods run after the
plan has been warped to EPSG:4527 and read the plan's roads, lots and zones.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely
from civgis.demo.common import DEMO_TODAY, PERIOD, DEADLINE_HOURS, _cn_number, _unique_names, _hour_profile


__all__ = ["Assets"]


class Assets:
    """Lamps, toilets and inspection cases of a :class:`~civgis.demo.plan.County` (a mixin)."""

    def _lamps(self, rng):
        roads = self.roads_plan
        lines = self.roads_f
        length = shapely.length(lines)
        cls = roads.road_class.to_numpy()
        lo = pd.Series(cls).map({"arterial": 30, "secondary": 30, "branch": 34, "commercial": 28, "alley": 28}).to_numpy()
        # evenly spaced, half a spacing from each end: apart from the planted stretches every point of
        # a road is within about 20 m of a lamp (the usual ~25 m reach counts the whole network as lit)
        target = rng.uniform(lo, lo + 6)
        count = np.maximum(1, np.ceil(length / target)).astype(int)  # spacing ≤ target
        spacing = length / count
        seg = np.repeat(np.arange(len(lines)), count)
        kth = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        pos = (kth + 0.5) * spacing[seg] + rng.uniform(-1.5, 1.5, len(seg))
        pos = np.clip(pos, 0, length[seg])
        # plant unlit stretches on long non-alley roads
        n_unlit = max(3, int(round(6 * self.scale)))
        eligible = np.flatnonzero((length >= 250) & (cls != "alley"))
        chosen = rng.choice(eligible, min(n_unlit, len(eligible)), replace=False)
        drop = np.zeros(len(seg), bool)
        unlit = []
        for s in sorted(chosen.tolist()):
            L = length[s]
            span = rng.uniform(110, min(220, L - 140))
            a = rng.uniform(70, L - span - 70)
            on = seg == s
            mask = on & (pos >= a) & (pos <= a + span)
            drop |= mask
            kept = np.sort(pos[on & ~mask])
            before = kept[kept < a].max() if np.any(kept < a) else 0.0
            after = kept[kept > a + span].min() if np.any(kept > a + span) else L
            stretch = shapely.ops.substring(lines[s], before, after)
            mid = shapely.line_interpolate_point(lines[s], (before + after) / 2)
            unlit.append({"road_index": int(s), "from_m": round(float(before), 2), "to_m": round(float(after), 2),
                          "lamp_free_m": round(float(after - before), 2), "removed_lamps": int(mask.sum()),
                          "x": round(mid.x, 2), "y": round(mid.y, 2), "wkt": shapely.to_wkt(stretch, rounding_precision=2),
                          "road_class": str(cls[s]), "spacing_m": round(float(spacing[s]), 2), "whole_road": False})
        # and a few back alleys without any lamp (背街小巷 are where lamps are missing)
        n_dark = max(2, int(round(5 * self.scale)))
        alleys = np.flatnonzero((cls == "alley") & (length >= 90) & (length <= 160))
        for s in sorted(rng.choice(alleys, min(n_dark, len(alleys)), replace=False).tolist()):
            mask = seg == s
            drop |= mask
            L = float(length[s])
            mid = shapely.line_interpolate_point(lines[s], 0.5, normalized=True)
            unlit.append({"road_index": int(s), "from_m": 0.0, "to_m": round(L, 2), "lamp_free_m": round(L, 2),
                          "removed_lamps": int(mask.sum()), "x": round(mid.x, 2), "y": round(mid.y, 2),
                          "wkt": shapely.to_wkt(lines[s], rounding_precision=2), "road_class": "alley",
                          "spacing_m": round(float(spacing[s]), 2), "whole_road": True})
        seg, pos = seg[~drop], pos[~drop]
        pts = shapely.line_interpolate_point(lines[seg], pos)
        broken = rng.random(len(seg)) < 0.03
        self.lamps_f = pts
        self.lamps_attr = pd.DataFrame({"road_index": seg, "broken": broken})
        self.unlit = unlit

    def _toilets(self, rng):
        lines = self.roads_f
        roads = self.roads_plan
        n = max(6, int(round(45 * self.scale)))
        length = shapely.length(lines)
        mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
        c = self.warp.points([self.ot_c[0]], [self.ot_c[1]])
        d = np.hypot(shapely.get_x(mid) - c[0][0], shapely.get_y(mid) - c[1][0])
        w = length * np.exp(-d / (0.6 * self.R)) * (roads.road_class != "alley").to_numpy()
        seg = rng.choice(len(lines), n - len(self.big_park_geoms), replace=False, p=w / w.sum())
        pos = rng.uniform(0.2, 0.8, len(seg)) * length[seg]
        p = shapely.line_interpolate_point(lines[seg], pos)
        q = shapely.line_interpolate_point(lines[seg], pos + 1.0)
        dx, dy = shapely.get_x(q) - shapely.get_x(p), shapely.get_y(q) - shapely.get_y(p)
        norm = np.hypot(dx, dy)
        side = rng.choice([-1.0, 1.0], len(seg))
        off = roads.width_m.to_numpy()[seg] / 2 + 6
        x = shapely.get_x(p) - dy / norm * off * side
        y = shapely.get_y(p) + dx / norm * off * side
        names = [f"{roads.name.iat[s]}公厕" for s in seg]
        parks = [g for g in self.big_park_geoms]
        pc = self.warp.geoms(np.array(parks, dtype=object))
        park_names = self.green_attr.name[(self.green_attr.subcategory == "G11")].tolist()
        x = np.r_[x, shapely.get_x(shapely.point_on_surface(pc))]
        y = np.r_[y, shapely.get_y(shapely.point_on_surface(pc))]
        names += [f"{nm}公厕" for nm in park_names[:len(parks)]]
        seen = {}
        for i, nm in enumerate(names):
            seen[nm] = seen.get(nm, 0) + 1
            if seen[nm] > 1:
                names[i] = nm.replace("公厕", f"{_cn_number(seen[nm])}号公厕")
        accessible = rng.random(len(x)) < 0.65
        self.toilets_f = shapely.points(x, y)
        self.toilets_attr = pd.DataFrame({"name": names, "accessible": accessible})

    # -------------------------------------------------------------- inspections
    def _inspections(self, rng):
        lots = self.lots
        N = int(round(30000 * self.scale))
        t0 = np.datetime64(PERIOD[0] + "T00:00:00", "s")
        t1 = np.datetime64(PERIOD[1] + "T00:00:00", "s")
        n_days = int((t1 - t0) / np.timedelta64(1, "D")) + 1
        W = self.warp
        built_f = self.built_f
        shapely.prepare(built_f)
        groups = []  # dicts: name, kind, cx, cy, sigma, n, cats, probs, hours, days

        hours_day = _hour_profile({8: 2, 9: 3, 10: 3, 11: 2, 12: 1, 13: 1, 14: 2, 15: 3, 16: 3, 17: 2, 18: 1, 7: 1, 19: 0.5})
        def add(name, kind, x, y, sigma, n, cats, probs, hours, days=None):
            fx, fy = W.points([x], [y])
            groups.append(dict(name=name, kind=kind, x=float(fx[0]), y=float(fy[0]), sigma=sigma, n=int(n),
                               cats=cats, probs=probs, hours=hours, days=days))

        markets = np.flatnonzero(lots.use == "market")
        mk_names = _unique_names(["城东农贸市场", "城西农贸市场", "南关菜市场", "北关综合市场", "新华农贸市场"],
                                 len(markets), rng)
        for idx, nm in zip(markets, mk_names):
            add(nm, "market", lots.cx[idx], lots.cy[idx], 70.0, 0.15 * N / max(1, len(markets)),
                ["0501", "0503", "0502"], [0.5, 0.35, 0.15], _hour_profile({6: 3, 7: 4, 8: 4, 9: 3, 10: 2, 11: 1, 17: 1}))
        schools = np.flatnonzero(lots.use == "school")
        sc_names = _unique_names(["县实验小学", "城关一小", "第二中学", "第一中学", "育才小学", "城东中学",
                                  "特殊教育学校", "第三小学"], len(schools), rng)
        for idx, nm in zip(schools, sc_names):
            add(nm, "school", lots.cx[idx], lots.cy[idx], 50.0, 0.10 * N / max(1, len(schools)), ["0501", "0201"], [0.8, 0.2],
                _hour_profile({7: 3, 11: 1, 16: 3, 17: 4, 18: 1}), days="school")
        add("老城区", "old_town", self.ot_c[0], self.ot_c[1], 0.45 * self.ot_r, 0.18 * N,
            ["0102", "0201", "0104"], [0.55, 0.35, 0.10], hours_day)
        # a growing night market in the newer part of town (the planted trend)
        res = np.flatnonzero((lots.use == "residential") & ~lots.old & (np.hypot(lots.cx, lots.cy) > 0.4 * self.R)
                             & ~lots.near_desert)
        away = np.hypot(lots.cx[res] - self.ot_c[0], lots.cy[res] - self.ot_c[1]) > self.ot_r + 300
        far = [i for i in res[away] if all(math.hypot(lots.cx[i] - x, lots.cy[i] - y) >= 500
                                           for x, y in self.poi_centres)]
        g_idx = rng.choice(far if far else res)
        self.poi_centres.append((lots.cx[g_idx], lots.cy[g_idx]))
        grow_start = "2025-09-01"
        add("新城夜市", "growing", lots.cx[g_idx], lots.cy[g_idx], 80.0, 0.06 * N, ["0503", "0501"], [0.6, 0.4],
            _hour_profile({18: 2, 19: 4, 20: 4, 21: 3, 22: 2, 23: 1}), days=("growing", grow_start))
        # construction sites, each active for a few months
        n_sites = max(1, int(round(2 * self.scale)))
        for q in range(n_sites):
            vac = np.flatnonzero(lots.use == "vacant")
            ok = [i for i in vac if all(math.hypot(lots.cx[i] - x, lots.cy[i] - y) >= 450 for x, y in self.poi_centres)
                  and math.hypot(lots.cx[i] - self.ot_c[0], lots.cy[i] - self.ot_c[1]) > self.ot_r + 250]
            idx = rng.choice(ok if ok else vac)
            self.poi_centres.append((lots.cx[idx], lots.cy[idx]))
            s0 = int(rng.integers(0, n_days - 200))
            add(f"建设工地{_cn_number(q + 1)}", "construction", lots.cx[idx], lots.cy[idx], 60.0, 0.03 * N / n_sites,
                ["0301", "0104"], [0.75, 0.25], hours_day, days=("window", s0, s0 + int(rng.integers(90, 200))))
        n_bg = N - sum(g["n"] for g in groups)
        xs, ys, cats, secs, kinds = [], [], [], [], []
        for gi, g in enumerate(groups):
            n = g["n"]
            x = g["x"] + rng.normal(0, g["sigma"], n)
            y = g["y"] + rng.normal(0, g["sigma"], n)
            xs.append(x)
            ys.append(y)
            cats.append(rng.choice(g["cats"], n, p=g["probs"]))
            secs.append(self._times(rng, n, n_days, g["hours"], g["days"]))
            kinds.append(np.full(n, gi))
        # background: anywhere in the built-up area
        bx0, by0, bx1, by1 = built_f.bounds
        bx = rng.uniform(bx0, bx1, 3 * n_bg)
        by = rng.uniform(by0, by1, 3 * n_bg)
        inside = shapely.contains_xy(built_f, bx, by)
        bx, by = bx[inside][:n_bg], by[inside][:n_bg]
        n_bg = len(bx)
        bg_cats = ["0102", "0104", "0201", "0301", "0501", "0502", "0503", "0601", "9999"]
        bg_p = [0.2, 0.25, 0.1, 0.05, 0.05, 0.1, 0.05, 0.15, 0.05]
        bg_cat = rng.choice(bg_cats, n_bg, p=bg_p)
        # facility-damage reports (设施损坏): a share of them at the broken lamps
        broken = self.lamps_f[self.lamps_attr.broken.to_numpy()]
        at_lamp = np.flatnonzero((bg_cat == "0601") & (rng.random(n_bg) < 0.3)) if len(broken) else np.array([], int)
        lamp = rng.integers(0, max(1, len(broken)), len(at_lamp))
        bx[at_lamp] = shapely.get_x(broken)[lamp] + rng.normal(0, 3.0, len(at_lamp)) if len(at_lamp) else bx[at_lamp]
        by[at_lamp] = shapely.get_y(broken)[lamp] + rng.normal(0, 3.0, len(at_lamp)) if len(at_lamp) else by[at_lamp]
        self.cases_at_broken_lamps = int(len(at_lamp))
        xs.append(bx)
        ys.append(by)
        cats.append(bg_cat)
        secs.append(self._times(rng, n_bg, n_days, hours_day, None))
        kinds.append(np.full(n_bg, -1))
        x, y, cat, sec, kind = (np.concatenate(v) for v in (xs, ys, cats, secs, kinds))
        reported = t0 + sec.astype("timedelta64[s]")
        limit = pd.Series(cat).map(DEADLINE_HOURS).to_numpy().astype(np.int64) * 3600
        deadline = reported + limit.astype("timedelta64[s]")
        u = rng.random(len(cat))
        dur = np.where(u < 0.11, limit * (1.0 + rng.exponential(0.6, len(cat))),
                       np.maximum(600.0, limit * rng.beta(2, 3, len(cat)) * 0.98))
        closed = reported + dur.astype(np.int64).astype("timedelta64[s]")
        today = np.datetime64(DEMO_TODAY + "T00:00:00", "s")
        never = u < 0.015
        is_open = never | (closed > today)
        order = np.argsort(reported, kind="stable")
        x, y, cat, kind, reported, deadline, closed, is_open = (v[order] for v in
                                                               (x, y, cat, kind, reported, deadline, closed, is_open))
        day = reported.astype("datetime64[D]")
        seq = pd.Series(np.ones(len(day), int)).groupby(day).cumsum().to_numpy()
        day_txt = np.char.replace(np.datetime_as_string(day), "-", "")
        case_id = np.char.add(np.char.add("AJ", day_txt), np.char.zfill(seq.astype(str), 4))
        self.cases = pd.DataFrame({"case_id": case_id, "category": cat, "reported_at": reported,
                                   "deadline": deadline, "closed_at": np.where(is_open, np.datetime64("NaT"), closed),
                                   "status": np.where(is_open, "open", "closed"), "x": x, "y": y, "group": kind})
        self.case_groups = groups
        self.grow_start = grow_start

    def _times(self, rng, n, n_days, hours, days):
        """Seconds since the period start: day by the group's rule, hour by its profile."""
        if days is None:
            d = rng.integers(0, n_days, n)
        elif days == "school":
            cand = rng.integers(0, n_days, 4 * n)
            date = np.datetime64(PERIOD[0]) + cand.astype("timedelta64[D]")
            weekday = ((date.astype("datetime64[D]").astype(np.int64) + 3) % 7) < 5  # 1970-01-01 was a Thursday
            md = pd.DatetimeIndex(date)
            holiday = ((md.month == 7) & (md.day >= 10)) | (md.month == 8) | ((md.month == 1) & (md.day >= 20)) | (
                (md.month == 2) & (md.day <= 20))
            d = cand[weekday & ~np.asarray(holiday)][:n]
            if len(d) < n:
                d = np.r_[d, rng.integers(0, n_days, n - len(d))]
        elif days[0] == "growing":
            s0 = int((np.datetime64(days[1]) - np.datetime64(PERIOD[0])) / np.timedelta64(1, "D"))
            d = (s0 + (n_days - s0) * np.sqrt(rng.random(n))).astype(np.int64)
            d = np.minimum(d, n_days - 1)
        else:
            d = rng.integers(days[1], days[2], n)
        h = rng.choice(24, n, p=hours)
        return d * 86400 + h * 3600 + rng.integers(0, 3600, n)


