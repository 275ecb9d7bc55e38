"""The demo county (示范县): a seeded, realistic county town to try every civgis tool on.

:func:`generate_demo_files` writes the files a bureau would really bring — a GBK shapefile
without ``.cpg``, a GBK CSV of lamps in GCJ-02 (高德) coordinates, an Excel sheet of toilets
in BD-09 (百度) coordinates, GeoPackages in CGCS2000 geographic and Gauss-Krüger CRSs, GeoJSON,
a canopy GeoTIFF — plus ``manifest.json``: the import options of every file and the *planted
facts* (responsibility-zone gaps and overlaps, unlit road stretches, inspection hot spots, a
growing hot spot and its start, a park-less district, counts) that other modules' tests check.
:func:`build_demo_workspace` imports those files through the real importers
(:func:`civgis.store.importers.import_file`); :func:`demo_workspace` builds once and caches (notebooks).

How the town is made (all in metres, deterministic for a seed; ``scale`` multiplies area and
counts):

* a *plan* is laid out on a 100 m grid centred on (0, 0): roads on every 3rd line (arterial
  every 1.2 km, secondary every 600 m, branch every 300 m), back alleys on every line inside
  the old town, a pedestrian commercial street; the network is split at every intersection
  and only its largest connected component is kept;
* the built-up boundary is an irregular star-shaped polygon of 17.5 km² × scale; 300 m cells
  between branch roads are cut into lots (residential, schools, markets, parks, squares,
  industry, vacant plots …) set back from the roads by half the road width plus a verge;
* the whole plan is then bent by a gentle smooth warp (rotation plus sine displacements of
  ≤ 40 m; its Jacobian stays positive, so nothing folds) and moved to the county seat at
  116.9°E 33.3°N in CGCS2000 / 3-degree Gauss-Krüger zone 39 (EPSG:4527);
* lamps (30–40 m apart), toilets, inspection cases and canopy are made on the final geometry.

Examples
--------
>>> import tempfile
>>> manifest = generate_demo_files(tempfile.mkdtemp(), scale=0.2)
>>> manifest["crs"], len(manifest["imports"])
('EPSG:4527', 10)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import io
import json
import math
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from civgis.store.coords import from_wgs84
from civgis.store.importers import import_file
from civgis.store.workspace import Workspace

__all__ = ["DEFAULT_SEED", "DEMO_TODAY", "PERIOD", "COUNTY_NAME", "ADMIN_CODE", "CENTRE_LONLAT", "CRS_EPSG",
           "BUILT_UP_KM2", "RESIDENTS", "GRID_M", "demo_cache_dir", "CLASS_ZH", "DEADLINE_HOURS", "RIVER_NAME",
           "generate_demo_files", "build_demo_workspace", "demo_workspace", "load_manifest"]

DEFAULT_SEED = 20261128
#: the demo's own "today": inspection cases run up to the day before
DEMO_TODAY = "2026-11-28"
PERIOD = ("2024-12-01", "2026-11-27")
COUNTY_NAME = "示范县"
#: fictional 6-digit administrative code used in component ids (部件编号)
ADMIN_CODE = "349901"
CENTRE_LONLAT = (116.9, 33.3)
CRS_EPSG = 4527  # CGCS2000 / 3-degree Gauss-Kruger zone 39 (central meridian 117°E)
BUILT_UP_KM2 = 17.5
RESIDENTS = 150_000
GRID_M = 100.0

CLASS_ZH = {"arterial": "主干道", "secondary": "次干道", "branch": "支路", "commercial": "商业街", "alley": "背街小巷"}
#: deadline (hours) per event category
DEADLINE_HOURS = {"0102": 24, "0104": 24, "0201": 48, "0301": 72, "0501": 24, "0502": 48, "0503": 48,
                  "0601": 168, "9999": 72}

# ---------------------------------------------------------------------- name pools
_CN_DIGITS = "零一二三四五六七八九"


def _cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十, 35 → 三十五, 105 → 一百零五, 230 → 二百三十 (Arabic from 1000)."""
    if n >= 1000:
        return str(n)
    if n >= 100:
        h, rest = divmod(n, 100)
        if rest == 0:
            return f"{_CN_DIGITS[h]}百"
        if rest < 10:
            return f"{_CN_DIGITS[h]}百零{_CN_DIGITS[rest]}"
        return f"{_CN_DIGITS[h]}百{_CN_DIGITS[rest // 10]}十" + (_CN_DIGITS[rest % 10] if rest % 10 else "")
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_CN_DIGITS[tens] if tens > 1 else "") + "十" + (_CN_DIGITS[ones] if ones else "")


_ARTERIAL = ["人民路", "解放路", "建设大道", "淮河路", "长江路", "黄河路", "迎宾大道", "和平路", "胜利路",
             "中山路", "新华路", "光明大道", "朝阳路", "世纪大道", "文明路", "振兴路"]
_SECONDARY = ["文化路", "育才路", "花园路", "幸福路", "健康路", "团结路", "工业路", "青年路", "复兴路", "东风路",
              "劳动路", "民主路", "兴华路", "龙山路", "凤凰路", "银河路", "丰收路", "友谊路", "前进路", "红旗路"]
_BRANCH_WORDS = ["桃园", "杏花", "梨园", "柳林", "松林", "槐树", "桂花", "紫薇", "丁香", "玉兰", "海棠", "石榴",
                 "枣园", "竹园", "荷花", "月季", "牡丹", "芙蓉", "银杏", "枫林", "翠竹", "金桂", "百合", "兰亭",
                 "卧龙", "望湖", "春晖", "秋实", "晨光", "新民", "安居", "乐业", "康宁", "永安", "广场", "鼓楼"]
_ALLEYS = ["东门巷", "西门巷", "南门巷", "北门巷", "李家巷", "王家巷", "张家巷", "刘家巷", "仓巷", "井巷",
           "书院巷", "钟楼巷", "马市巷", "盐店巷", "染坊巷", "油坊巷", "铁匠巷", "粮站巷", "学前巷", "县前巷",
           "卫前巷", "花巷", "柴巷", "鱼市巷", "米市巷", "箍桶巷", "打铜巷", "皮匠巷", "天井巷", "孔庙巷"]
_COMMERCIAL = ["鼓楼步行街", "老街商业街", "府前商业街", "状元街"]
_RES_WORDS = ["锦绣", "阳光", "幸福", "和谐", "金色", "翠园", "春江", "碧水", "紫金", "丽景", "香榭", "御景",
              "滨河", "铂悦", "天悦", "盛世", "明珠", "龙湖", "凤凰", "桂园", "华府", "嘉园", "康居", "福苑",
              "书香", "文苑", "瑞景", "东方", "新城", "学府", "棉纺厂", "粮食局", "供销社", "电厂", "化肥厂",
              "水利局", "教师", "邮电", "城建", "银座", "梧桐", "清华", "东湖", "西湖", "南苑", "北苑", "怡景",
              "悦澜", "水岸", "星河", "金地", "世纪", "帝景", "香山", "兰园", "枫丹", "丽都", "泰和", "安泰", "顺和"]
_SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕")
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
          "秀英", "华", "平", "刚", "桂英", "建华", "志强", "海燕", "红梅", "建国", "文斌", "晓东", "春生"]
_STREETS = ["城关街道", "东城街道", "西城街道", "南城街道", "北城街道"]
_BIG_PARKS = ["人民公园", "龙湖公园", "滨河公园", "凤凰山公园", "文昌公园", "植物园公园"]
_SPECIAL_PARKS = ["儿童公园", "体育公园", "植物园", "烈士陵园", "湿地公园", "雕塑公园"]
_SQUARES = ["人民广场", "文化广场", "市民广场", "时代广场", "鼓楼广场", "健身广场"]
_EG = ["凤凰山森林公园", "北湖湿地", "东郊生态林", "西山苗圃", "南湖湿地公园"]
RIVER_NAME = "清水河"

_ORIENT_H, _ORIENT_V = 0, 1


# ---------------------------------------------------------------------- small helpers
def _base_class(k):
    """Road class of grid line ``k`` (vectorised): 3 arterial, 2 secondary, 1 branch, 0 none."""
    if isinstance(k, (int, float, np.integer, np.floating)):
        k = int(k)
        return 3 if k % 12 == 0 else 2 if k % 6 == 0 else 1 if k % 3 == 0 else 0
    k = np.asarray(k)
    return np.where(k % 12 == 0, 3, np.where(k % 6 == 0, 2, np.where(k % 3 == 0, 1, 0)))


_CLASS_CODES = {5: "alley", 4: "commercial", 3: "arterial", 2: "secondary", 1: "branch"}


#: generic endings a numeral goes in front of: 桃园路 → 桃园二路, 城东中学 → 城东二中学 …
_NAME_ENDINGS = sorted(["大道", "小区", "家园", "花园", "新村", "小学", "中学", "学校", "市场", "菜市场", "综合市场",
                        "农贸市场", "公园", "森林公园", "湿地公园", "广场", "湿地", "苗圃", "生态林", "陵园", "植物园",
                        "步行街", "商业街"], key=len, reverse=True)


def _unique_names(pool: list[str], n: int, rng, suffix: str | None = None) -> list[str]:
    """``n`` distinct names: the pool shuffled, then the pool again with 二/三… inserted."""
    order = list(rng.permutation(len(pool)))
    names = []
    for i in range(n):
        base = pool[order[i % len(pool)]]
        rnd = i // len(pool)
        if rnd == 0:
            names.append(base)
        else:
            end = next((e for e in _NAME_ENDINGS if base.endswith(e)), base[-1:])
            names.append(f"{base[:-len(end)]}{_cn_number(rnd + 1)}{end}")
    return names


def _estate_names(n: int, rng) -> list[str]:
    """Residential estate names, half of them "XX小区", then "XX花园二期" … when the pool runs out."""
    xiaoqu = [_RES_WORDS[i] + "小区" for i in rng.permutation(len(_RES_WORDS))]
    other = [_RES_WORDS[i] + s for i in rng.permutation(len(_RES_WORDS)) for s in ("花园", "家园", "苑", "新村")]
    other = [other[i] for i in rng.permutation(len(other))]
    pool = []
    for i in range(max(len(xiaoqu), len(other))):
        pool += ([xiaoqu[i]] if i < len(xiaoqu) else []) + ([other[i]] if i < len(other) else [])
    return [pool[i % len(pool)] + ("" if i < len(pool) else f"{_cn_number(i // len(pool) + 1)}期") for i in range(n)]


def _person(rng) -> str:
    return str(rng.choice(_SURNAMES)) + str(rng.choice(_GIVEN))


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total``."""
    share = weights / weights.sum() * total
    base = np.floor(share).astype(np.int64)
    rest = total - int(base.sum())
    if rest > 0:
        base[np.argsort(-(share - base), kind="stable")[:rest]] += 1
    return base


@dataclass
class _Warp:
    """Plan metres → final CGCS2000 GK metres: rotation + smooth sine bend + offset to the county seat."""

    theta: float
    a: float
    b: float
    l1: float
    l2: float
    p1: float
    p2: float
    e0: float
    n0: float

    def xy(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        xw = x + self.a * np.sin(2 * np.pi * y / self.l1 + self.p1)
        yw = y + self.b * np.sin(2 * np.pi * x / self.l2 + self.p2)
        c, s = math.cos(self.theta), math.sin(self.theta)
        return np.c_[c * xw - s * yw + self.e0, s * xw + c * yw + self.n0]

    def geoms(self, geoms, max_segment: float | None = 50.0):
        geoms = np.asarray(geoms, dtype=object) if not isinstance(geoms, shapely.Geometry) else geoms
        if max_segment:
            geoms = shapely.segmentize(geoms, max_segment)
        return shapely.transform(geoms, self.xy)

    def points(self, x, y):
        out = self.xy(np.c_[np.asarray(x, float), np.asarray(y, float)])
        return out[:, 0], out[:, 1]


@dataclass
class _Lots:
    """Lots in plan coordinates: the un-shrunk rectangle, the set-back interior, its use."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    ix0: np.ndarray
    iy0: np.ndarray
    ix1: np.ndarray
    iy1: np.ndarray
    old: np.ndarray
    #: the kind of line on each side (west, east, south, north): "line" (a grid road line) or "split"
    kinds: tuple = ()
    use: np.ndarray | None = None
    geom: np.ndarray | None = None  # interior clipped to the built-up area, river corridor removed
    area: np.ndarray | None = None
    desert: np.ndarray | None = None  # centre inside the park-less district
    near_desert: np.ndarray | None = None  # within 100 m of it: no parks here

    @functools.cached_property
    def cx(self):
        return (self.ix0 + self.ix1) / 2

    @functools.cached_property
    def cy(self):
        return (self.iy0 + self.iy1) / 2


# ---------------------------------------------------------------------- the generator
class _County:
    """One generated county: ``build()`` lays out the plan, warps it and places lamps, toilets, cases.

    Plan geometry (metres around 0, 0) ends in ``_plan``; final geometry (EPSG:4527) in ``_f``.
    """

    def __init__(self, seed: int, scale: float):
        if not scale > 0:
            raise ValueError(f"scale must be positive, not {scale}")
        self.seed = int(seed)
        self.scale = float(scale)
        self.rng = np.random.default_rng(self.seed)
        self.crs = CRS.from_epsg(CRS_EPSG)
        to_gk = Transformer.from_crs(4326, self.crs, always_xy=True)
        self.to_wgs = Transformer.from_crs(self.crs, 4326, always_xy=True)
        self.e0, self.n0 = to_gk.transform(*CENTRE_LONLAT)

    # -------------------------------------------------------------- plan
    def build(self):
        t_start = time.perf_counter()
        rng = self.rng
        S = GRID_M
        area = BUILT_UP_KM2 * 1e6 * self.scale
        # built-up: star-shaped polygon with a few random harmonics, rescaled to the target area
        theta = np.linspace(0.0, 2 * np.pi, 721)[:-1]
        ph = rng.uniform(0, 2 * np.pi, 4)
        r = (1 + 0.16 * np.cos(2 * theta + ph[0]) + 0.09 * np.cos(3 * theta + ph[1])
             + 0.05 * np.cos(5 * theta + ph[2]) + 0.03 * np.cos(7 * theta + ph[3]))
        k = np.arange(8, 16)
        r = r + (rng.uniform(0.004, 0.018, len(k))[:, None]
                 * np.cos(k[:, None] * theta[None, :] + rng.uniform(0, 2 * np.pi, len(k))[:, None])).sum(axis=0)
        unit = shapely.Polygon(np.c_[r * np.cos(theta), r * np.sin(theta)])
        R = math.sqrt(area / unit.area)
        self.R = R
        self.built = shapely.Polygon(np.c_[R * r * np.cos(theta), R * r * np.sin(theta)])
        shapely.prepare(self.built)
        rmax = R * r.max()
        self.K = K = int(math.ceil(rmax / S / 3.0)) * 3 + 3

        # warp to the final CRS
        self.warp = _Warp(theta=math.radians(rng.uniform(6, 16) * rng.choice([-1, 1])), a=rng.uniform(25, 40), b=rng.uniform(25, 40),
                          l1=rng.uniform(3500, 5000), l2=rng.uniform(3500, 5000), p1=rng.uniform(0, 2 * np.pi),
                          p2=rng.uniform(0, 2 * np.pi), e0=self.e0, n0=self.n0)

        # cells of 3×3 grid squares between branch roads
        cidx = np.arange(-K // 3, K // 3)
        CI, CJ = np.meshgrid(cidx, cidx, indexing="ij")
        CI, CJ = CI.ravel(), CJ.ravel()
        boxes = shapely.box(CI * 3 * S, CJ * 3 * S, (CI + 1) * 3 * S, (CJ + 1) * 3 * S)
        frac = shapely.area(_clip(boxes, self.built)) / (9 * S * S)
        keep = frac > 1e-6
        self.cells = pd.DataFrame({"ci": CI[keep], "cj": CJ[keep], "frac": frac[keep]})
        cells = self.cells
        cells["cx"] = (cells.ci + 0.5) * 3 * S
        cells["cy"] = (cells.cj + 0.5) * 3 * S
        cells["r"] = np.hypot(cells.cx, cells.cy)
        cells["ang"] = np.arctan2(cells.cy, cells.cx)
        full = cells.frac > 0.999

        # old town, park-less district (公园服务盲区), industry
        ot_ang = rng.uniform(-np.pi, np.pi)
        self.ot_c = np.array([0.12 * R * math.cos(ot_ang), 0.12 * R * math.sin(ot_ang)])
        self.ot_r = 0.27 * R
        cells["old"] = full & (np.hypot(cells.cx - self.ot_c[0], cells.cy - self.ot_c[1]) < self.ot_r)
        self.desert_dir = rng.uniform(-np.pi, np.pi)
        self.desert_half = math.radians(32)
        self.desert_rmin = 0.45 * R
        ang = np.linspace(self.desert_dir - self.desert_half, self.desert_dir + self.desert_half, 40)
        wedge = shapely.Polygon(np.r_[[[0.0, 0.0]], np.c_[4 * R * np.cos(ang), 4 * R * np.sin(ang)]])
        self.desert_plan = shapely.difference(shapely.intersection(wedge, self.built),
                                              shapely.Point(0, 0).buffer(self.desert_rmin, quad_segs=16))
        #: no park may touch the park-less district or come within 100 m of it
        self.desert_zone = self.desert_plan.buffer(100.0)
        shapely.prepare(self.desert_zone)
        cells["desert"] = shapely.intersects(self.desert_zone, shapely.box(
            cells.ci * 3 * S, cells.cj * 3 * S, (cells.ci + 1) * 3 * S, (cells.cj + 1) * 3 * S))
        ind_dir = self.desert_dir + np.pi + rng.uniform(-0.6, 0.6)
        cells["industry"] = (np.abs(_angle_diff(cells.ang, ind_dir)) < math.radians(30)) & (cells.r > 0.55 * R)

        # river: a sinuous line across the town
        xr = np.arange(-1.3 * rmax, 1.3 * rmax + 1, 20.0)
        yr0 = rng.uniform(-0.35, -0.15) * R * rng.choice([-1, 1])
        yr = yr0 + 150 * np.sin(2 * np.pi * xr / 2600 + rng.uniform(0, 2 * np.pi))
        self.river = shapely.LineString(np.c_[xr, yr])
        self.river_corridor = self.river.buffer(55.0)
        river_band = shapely.buffer(self.river, 20.0)
        cells["river"] = shapely.intersects(shapely.box(cells.cx - 150, cells.cy - 150, cells.cx + 150,
                                                        cells.cy + 150), self.river.buffer(60))
        # reserved park cells: big comprehensive parks (2×2 cells) and small ones (1 cell)
        cellset = {(a, b): i for i, (a, b) in enumerate(zip(cells.ci, cells.cj))}
        free = (full & ~cells.old & ~cells.desert & ~cells.river).to_numpy()
        reserved = np.zeros(len(cells), bool)
        self.parks_big = []  # (x0, y0, x1, y1, kind)
        n_big = max(1, round(self.scale))
        order = rng.permutation(len(cells))
        for idx in order:
            if len(self.parks_big) >= n_big:
                break
            a, b = cells.ci[idx], cells.cj[idx]
            block = [cellset.get((a + da, b + db)) for da in (0, 1) for db in (0, 1)]
            if any(i is None for i in block) or not all(free[i] and not reserved[i] for i in block):
                continue
            if not (0.3 * R < cells.r[idx] < 0.65 * R):
                continue
            around = [cellset.get((a + da, b + db)) for da in range(-1, 3) for db in range(-1, 3)]
            if any(i is not None and reserved[i] for i in around):
                continue
            reserved[block] = True
            self.parks_big.append((a * 3 * S, b * 3 * S, (a + 2) * 3 * S, (b + 2) * 3 * S, "G11"))
        n_small = max(2, round(2 * self.scale))
        placed = 0
        for idx in order[::-1]:
            if placed >= n_small:
                break
            a, b = cells.ci[idx], cells.cj[idx]
            around = [cellset.get((a + da, b + db)) for da in range(-1, 2) for db in range(-1, 2)]
            if not free[idx] or any(i is not None and reserved[i] for i in around) or cells.r[idx] > 0.75 * R:
                continue
            reserved[idx] = True
            placed += 1
            self.parks_big.append((a * 3 * S, b * 3 * S, (a + 1) * 3 * S, (b + 1) * 3 * S, "G11"))
        cells["reserved"] = reserved

        steps = [("lines", self._lines), ("roads", self._roads), ("lots", self._lots), ("zones", self._zones),
                 ("green", lambda rng: self._green(rng, river_band)), ("residential", self._residential),
                 ("candidates", self._candidates), ("warp", lambda rng: self._finalise()), ("lamps", self._lamps),
                 ("toilets", self._toilets), ("inspections", self._inspections)]
        #: seconds per step (bench/bench_demo_scale.py prints them)
        self.timings = {"layout": time.perf_counter() - t_start}
        for name, step in steps:
            t0 = time.perf_counter()
            step(rng)
            self.timings[name] = time.perf_counter() - t0
        return self

    # -------------------------------------------------------------- grid lines
    def _lines(self, rng):
        """Class, width and name of every grid line (plus the commercial streets)."""
        K = self.K
        ks = np.arange(-K, K + 1)
        self.line_width = {}
        self.line_name = {}
        widths = {3: [40.0, 45.0, 50.0], 2: [24.0, 28.0, 30.0], 1: [12.0, 15.0, 18.0], 0: [3.0, 4.0, 5.0, 6.0]}
        for orient in (_ORIENT_H, _ORIENT_V):
            for k in ks:
                self.line_width[(orient, int(k))] = float(rng.choice(widths[int(_base_class(k))]))
        for cls, pool in ((3, _ARTERIAL), (2, _SECONDARY)):
            keys = [(o, int(k)) for o in (0, 1) for k in ks if _base_class(k) == cls]
            for key, name in zip(keys, _unique_names(pool, len(keys), rng)):
                self.line_name[key] = name
        keys = [(o, int(k)) for o in (0, 1) for k in ks if _base_class(k) == 1]
        pool = [w + ("路" if i % 3 else "街") for i, w in enumerate(_BRANCH_WORDS)]
        for key, name in zip(keys, _unique_names(pool, len(keys), rng)):
            self.line_name[key] = name
        keys = [(o, int(k)) for o in (0, 1) for k in ks if _base_class(k) == 0]
        for key, name in zip(keys, _unique_names(_ALLEYS, len(keys), rng)):
            self.line_name[key] = name
        # commercial: the old-town alley line through its centre, and a branch line near the centre
        S = GRID_M
        j = int(round(self.ot_c[1] / S))
        j = j + 1 if j % 3 == 0 else j
        self.com_old = (_ORIENT_H, j)
        self.line_width[self.com_old] = float(rng.choice([10.0, 12.0]))
        i = int(round(self.ot_c[0] / S / 3.0)) * 3
        if i % 6 == 0:
            i += 3
        self.com_branch = (_ORIENT_V, i)
        com_names = list(rng.permutation(_COMMERCIAL))
        self.com_names = {self.com_old: str(com_names[0]), self.com_branch: str(com_names[1])}

    # -------------------------------------------------------------- roads
    def _roads(self, rng):
        S, K = GRID_M, self.K
        t = np.arange(-K, K)
        k = np.arange(-K, K + 1)
        T, L = np.meshgrid(t, k, indexing="ij")
        T, L = T.ravel(), L.ravel()
        edges = []
        old_cells = set(zip(self.cells.ci[self.cells.old], self.cells.cj[self.cells.old]))
        for orient in (_ORIENT_H, _ORIENT_V):
            cls = _base_class(L).astype(np.int64)
            # the cell holding an off-line edge: along index t // 3, across index k // 3
            if orient == _ORIENT_H:
                cell_keys = list(zip((T // 3).tolist(), (L // 3).tolist()))
            else:
                cell_keys = list(zip((L // 3).tolist(), (T // 3).tolist()))
            in_old = np.fromiter((c in old_cells for c in cell_keys), bool, len(cell_keys))
            cls = np.where((cls == 0) & in_old, 5, cls)
            # commercial streets
            if orient == self.com_old[0]:
                cls = np.where((L == self.com_old[1]) & in_old, 4, cls)
            if orient == self.com_branch[0]:
                along_c = self.ot_c[1] / S
                cls = np.where((L == self.com_branch[1]) & (np.abs(T + 0.5 - along_c) < 4.5), 4, cls)
            edges.append(pd.DataFrame({"orient": orient, "k": L, "t": T, "cls": cls}))
        e = pd.concat(edges, ignore_index=True)
        e = e[e.cls > 0].reset_index(drop=True)
        # endpoints (plan coordinates)
        h = e.orient == _ORIENT_H
        e["x0"] = np.where(h, e.t, e.k) * S
        e["y0"] = np.where(h, e.k, e.t) * S
        e["x1"] = np.where(h, e.t + 1, e.k) * S
        e["y1"] = np.where(h, e.k, e.t + 1) * S
        zone = self.built.buffer(60.0)
        shapely.prepare(zone)
        ok = shapely.contains_xy(zone, e.x0, e.y0) & shapely.contains_xy(zone, e.x1, e.y1)
        mx, my = (e.x0 + e.x1) / 2, (e.y0 + e.y1) / 2
        for x0, y0, x1, y1, _ in self.parks_big:
            ok &= ~((mx > x0 + 1) & (mx < x1 - 1) & (my > y0 + 1) & (my < y1 - 1))
        e = e[ok].reset_index(drop=True)
        # largest connected component
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n_side = 2 * K + 1
        node = lambda x, y: ((np.round(x / S).astype(np.int64) + K) * n_side + np.round(y / S).astype(np.int64) + K)
        e["n0"], e["n1"] = node(e.x0, e.y0), node(e.x1, e.y1)
        n_nodes = n_side * n_side
        adj = coo_matrix((np.ones(len(e)), (e.n0, e.n1)), shape=(n_nodes, n_nodes))
        _, labels = connected_components(adj, directed=False)
        lab = labels[e.n0]
        biggest = np.bincount(lab).argmax()
        e = e[lab == biggest].reset_index(drop=True)
        degree = np.bincount(np.r_[e.n0, e.n1], minlength=n_nodes)
        # merge chains of one line and class through nodes of degree 2
        e = e.sort_values(["orient", "k", "t"], kind="stable").reset_index(drop=True)
        prev_same = ((e.orient == e.orient.shift()) & (e.k == e.k.shift()) & (e.t == e.t.shift() + 1)
                     & (e.cls == e.cls.shift()))
        through = degree[e.n0] == 2
        e["seg"] = np.cumsum(~(prev_same & through).to_numpy()) - 1
        self.edges = e
        first = ~(prev_same & through).to_numpy()
        pts = np.r_[np.c_[e.x0[first], e.y0[first]], np.c_[e.x1, e.y1]]
        seg = np.r_[e.seg[first], e.seg]
        pos = np.r_[2 * e.t[first], 2 * e.t + 1]
        o = np.lexsort((pos, seg))
        lines = shapely.linestrings(pts[o], indices=seg[o])
        segs = e.groupby("seg", sort=True).first()
        classes = segs.cls.map(_CLASS_CODES).to_numpy()
        keys = list(zip(segs.orient.tolist(), segs.k.tolist()))
        width = np.array([self.line_width[key] for key in keys])
        names = np.array([self.com_names[key] if c == "commercial" else self.line_name[key]
                          for key, c in zip(keys, classes)], dtype=object)
        width = np.where(classes == "commercial", np.where(np.array([kk == self.com_old for kk in keys]),
                                                           width, np.minimum(width, 16.0)), width)
        p_swept = pd.Series(classes).map({"arterial": 1.0, "secondary": 0.95, "branch": 0.7, "commercial": 0.5,
                                          "alley": 0.1}).to_numpy()
        swept = rng.random(len(classes)) < p_swept
        self.roads_plan = pd.DataFrame({"road_class": classes, "name": names, "width_m": width,
                                        "mech_swept": swept, "orient": segs.orient.to_numpy(),
                                        "k": segs.k.to_numpy()})
        self.roads_plan_geom = lines

    # -------------------------------------------------------------- lots
    def _setback(self, orient, k, kind):
        """Set-back of a lot side from a grid line: half the road width plus a verge."""
        if kind == "split":
            return 4.0
        hw = self.line_width[(orient, int(k))] / 2.0
        return hw + {3: 25.0, 2: 5.0, 1: 5.0, 0: 1.0}[int(_base_class(k))]

    def _lots(self, rng):
        S = GRID_M
        c = self.cells
        rows = []
        for ci, cj, old, reserved in zip(c.ci, c.cj, c.old, c.reserved):
            if reserved:
                continue
            X0, Y0 = ci * 3, cj * 3  # grid indices of the cell's lower-left corner
            if old:
                for a in range(3):
                    for b in range(3):
                        rows.append((X0 + a, Y0 + b, X0 + a + 1, Y0 + b + 1, "line", "line", "line", "line", True))
            elif rng.random() < 0.5:  # split west/east
                rows.append((X0, Y0, X0 + 1.5, Y0 + 3, "line", "split", "line", "line", False))
                rows.append((X0 + 1.5, Y0, X0 + 3, Y0 + 3, "split", "line", "line", "line", False))
            else:
                rows.append((X0, Y0, X0 + 3, Y0 + 1.5, "line", "line", "line", "split", False))
                rows.append((X0, Y0 + 1.5, X0 + 3, Y0 + 3, "line", "line", "split", "line", False))
        ax0, ay0, ax1, ay1, kl, kr, kb, kt, old = (np.array(v) for v in zip(*rows))
        sb = lambda orient, k, kind: np.array([self._setback(orient, kk, kd) for kk, kd in zip(k, kind)])
        lots = _Lots(x0=ax0 * S, y0=ay0 * S, x1=ax1 * S, y1=ay1 * S,
                     ix0=ax0 * S + sb(_ORIENT_V, ax0, kl), ix1=ax1 * S - sb(_ORIENT_V, ax1, kr),
                     iy0=ay0 * S + sb(_ORIENT_H, ay0, kb), iy1=ay1 * S - sb(_ORIENT_H, ay1, kt), old=old.astype(bool))
        lots.kinds = (kl, kr, kb, kt)
        geom = shapely.box(lots.ix0, lots.iy0, lots.ix1, lots.iy1)
        geom = _cut(_clip(geom, self.built), self.river_corridor)
        geom = _keep_polygons(geom)
        area = shapely.area(geom)
        R = self.R
        r = np.hypot(lots.cx, lots.cy)
        desert = shapely.contains_xy(self.desert_plan, lots.cx, lots.cy)
        near_desert = shapely.intersects(self.desert_zone, shapely.box(lots.x0, lots.y0, lots.x1, lots.y1))
        cell_of = {(a, b): i for i, (a, b) in enumerate(zip(c.ci, c.cj))}
        cidx = np.array([cell_of[(int(np.floor(x / 300.0)), int(np.floor(y / 300.0)))]
                         for x, y in zip(lots.cx, lots.cy)])
        industry = c.industry.to_numpy()[cidx]
        use = np.full(len(area), "residential", dtype=object)
        usable = area > 2000
        use[~usable] = "none"
        sc = self.scale

        def pick(n, mask):
            idx = np.flatnonzero(mask & (use == "residential"))
            n = min(int(round(n)), len(idx))
            chosen = rng.choice(idx, n, replace=False) if n else np.array([], int)
            return chosen

        def pick_spaced(n, mask, centres, min_dist=450.0):
            """Like pick, but each chosen lot at least ``min_dist`` from every centre so far (clean clusters)."""
            chosen = []
            for i in rng.permutation(np.flatnonzero(mask & (use == "residential"))):
                if len(chosen) >= int(round(n)):
                    break
                if all(math.hypot(lots.cx[i] - x, lots.cy[i] - y) >= min_dist for x, y in centres):
                    chosen.append(i)
                    centres.append((lots.cx[i], lots.cy[i]))
            return np.array(chosen, dtype=int)

        big = area > 20000
        use[pick(0.5 * np.sum(industry & usable), industry & ~lots.old)] = "industrial"
        away_from_old = np.hypot(lots.cx - self.ot_c[0], lots.cy - self.ot_c[1]) > self.ot_r + 250
        self.poi_centres = []
        use[pick_spaced(3 * sc, ~lots.old & big & (r < 0.7 * R) & away_from_old, self.poi_centres)] = "market"
        use[pick_spaced(5 * sc, ~lots.old & big & (r < 0.8 * R) & away_from_old, self.poi_centres)] = "school"
        use[pick(14 * sc, ~lots.old & big & ~near_desert)] = "park_G12"
        use[pick(3 * sc, ~lots.old & big & ~near_desert)] = "park_G13"
        use[pick(2 * sc, ~lots.old & big & ~near_desert & (r < 0.5 * R))] = "square"
        use[pick(1, lots.old & ~near_desert)] = "square"
        use[pick(0.35 * np.sum(r < 0.35 * R), (r < 0.35 * R))] = "commercial"
        use[pick(4 * sc, desert & ~lots.old)] = "vacant"
        use[pick(0.05 * len(use), ~lots.old)] = "vacant"
        use[pick(0.05 * len(use), np.ones(len(use), bool))] = "public"
        lots.use = use
        lots.geom = geom
        lots.area = area
        lots.desert = desert
        lots.near_desert = near_desert
        self.lots = lots

    # -------------------------------------------------------------- zones
    def _zones(self, rng):
        from scipy.cluster.vq import kmeans2

        S3 = 3 * GRID_M
        c = self.cells
        n_zones = max(4, int(round(50 * self.scale)))
        pts = np.c_[c.cx, c.cy]
        centroids, _ = kmeans2(pts, n_zones, minit="++", seed=rng, iter=30)
        d = np.hypot(pts[:, None, 0] - centroids[None, :, 0], pts[:, None, 1] - centroids[None, :, 1])
        lab = d.argmin(axis=1)
        used = np.unique(lab)
        # number zones north→south in bands, west→east inside a band (GB/T 30428 habit)
        cen = np.array([pts[lab == z].mean(axis=0) for z in used])
        band = np.floor(-cen[:, 1] / (2 * S3))
        order = np.lexsort((cen[:, 0], band))
        remap = np.empty(used.max() + 1, int)
        remap[used[order]] = np.arange(len(used))
        lab = remap[lab]
        cells_geom = shapely.box(c.ci * S3, c.cj * S3, (c.ci + 1) * S3, (c.cj + 1) * S3)
        n = len(used)
        # cells tile the plane without overlaps: a coverage union is exact and fast
        zone_geom = np.array([shapely.coverage_union_all(cells_geom[lab == z]) for z in range(n)], dtype=object)

        # plant gaps (死角) and overlaps (交叉) on shared edges between zones, inside the built-up area
        cell_of = {(a, b): i for i, (a, b) in enumerate(zip(c.ci, c.cj))}
        shared = []
        full = (c.frac > 0.999).to_numpy()
        for i, (a, b) in enumerate(zip(c.ci, c.cj)):
            for da, db in ((1, 0), (0, 1)):
                j = cell_of.get((a + da, b + db))
                if j is not None and lab[i] != lab[j] and full[i] and full[j]:
                    shared.append((i, j, da))
        n_gap = max(3, int(round(3 * self.scale)))
        n_ovl = max(3, int(round(3 * self.scale)))
        chosen, spots = [], []
        order = rng.permutation(len(shared))
        along = rng.uniform(-70, 70, len(shared))
        for min_gap in (500.0, 300.0, 180.0):  # small towns (scale < 1) need the spots closer together
            for s in order:
                i, j, da = shared[s]
                # a point on the shared edge (its midpoint shifted along it)
                mx = (c.ci[i] + (1.0 if da else 0.5)) * S3
                my = (c.cj[i] + (0.5 if da else 1.0)) * S3
                mx, my = (mx, my + along[s]) if da else (mx + along[s], my)
                if any(math.hypot(mx - x, my - y) < min_gap for x, y in spots):
                    continue
                if self.river_corridor.distance(shapely.Point(mx, my)) < 120:
                    continue
                spots.append((mx, my))
                chosen.append((i, j, da, mx, my))
                if len(chosen) >= n_gap + n_ovl:
                    break
            if len(chosen) >= n_gap + n_ovl:
                break
        gaps, overlaps = [], []
        for q, (i, j, da, mx, my) in enumerate(chosen):
            if q < n_gap:
                w_along, w_across = rng.uniform(45, 90), rng.uniform(30, 60)
                off = rng.uniform(-0.3, 0.3) * w_across
            else:
                w_along, w_across = rng.uniform(50, 90), rng.uniform(40, 70)
                off = rng.uniform(-0.2, 0.2) * w_across
            if da:  # vertical shared edge: across = x
                rect = shapely.box(mx + off - w_across / 2, my - w_along / 2, mx + off + w_across / 2, my + w_along / 2)
            else:
                rect = shapely.box(mx - w_along / 2, my + off - w_across / 2, mx + w_along / 2, my + off + w_across / 2)
            if q < n_gap:
                gaps.append(rect)
            else:
                a_zone, b_zone = (lab[i], lab[j]) if rng.random() < 0.5 else (lab[j], lab[i])
                overlaps.append((rect, int(a_zone), int(b_zone)))
        for rect in gaps:
            zone_geom = shapely.difference(zone_geom, rect)
        for rect, a_zone, _ in overlaps:
            zone_geom[a_zone] = shapely.union(zone_geom[a_zone], rect)
        zone_geom = _clip(zone_geom, self.built)
        self.zones_plan = zone_geom
        self.zone_gaps_plan = gaps
        self.zone_overlaps_plan = overlaps
        cen = np.array([[g.centroid.x, g.centroid.y] for g in zone_geom])
        rz = np.hypot(cen[:, 0], cen[:, 1])
        angz = np.arctan2(cen[:, 1], cen[:, 0])
        sector = np.where(rz < 0.35 * self.R, 0, 1 + (np.floor((angz + np.pi / 4) / (np.pi / 2)) % 4).astype(int))
        street_of_sector = {0: "城关街道", 1: "东城街道", 2: "北城街道", 3: "西城街道", 4: "南城街道"}
        unit_of_sector = {0: "城区执法一中队", 1: "城区执法二中队", 2: "城区执法三中队", 3: "城区执法四中队",
                          4: "城区执法五中队"}
        count = {}
        names, units = [], []
        for s_ in sector:
            count[s_] = count.get(s_, 0) + 1
            names.append(f"{street_of_sector[s_]}第{_cn_number(count[s_])}责任区")
            units.append(unit_of_sector[s_])
        width = max(2, len(str(n)))
        staff = [_person(rng) for _ in range(n)]
        phone = [f"1{rng.choice([3, 5, 8])}{rng.integers(0, 10)}{rng.integers(0, 10**8):08d}" for _ in range(n)]
        missing = rng.choice(n, 2, replace=False)
        staff[missing[0]] = None
        phone[missing[1]] = None
        self.zones_attr = pd.DataFrame({"zone_id": [f"Z{z + 1:0{width}d}" for z in range(n)], "name": names,
                                        "unit": units, "staff": staff, "phone": phone})
        self.zone_missing = [(int(missing[0]), "staff"), (int(missing[1]), "phone")]

    # -------------------------------------------------------------- green
    def _green(self, rng, river_band):
        lots, S = self.lots, GRID_M
        recs = []  # (geom, category, subcategory, name)
        big_names = _unique_names(_BIG_PARKS, len(self.parks_big), rng)
        for (x0, y0, x1, y1, _), name in zip(self.parks_big, big_names):
            i0, i1, j0, j1 = round(x0 / S), round(x1 / S), round(y0 / S), round(y1 / S)
            g = shapely.box(x0 + self._setback(_ORIENT_V, i0, "line"), y0 + self._setback(_ORIENT_H, j0, "line"),
                            x1 - self._setback(_ORIENT_V, i1, "line"), y1 - self._setback(_ORIENT_H, j1, "line"))
            recs.append((g, "G1", "G11", name))
        self.big_park_geoms = [r[0] for r in recs]
        u = lots.use
        # community and special parks fill part / all of their lot
        for idx in np.flatnonzero(u == "park_G12"):
            target = rng.uniform(15000, 35000)
            recs.append((_sub_rect(lots, idx, target, rng), "G1", "G12", None))
        for idx in np.flatnonzero(u == "park_G13"):
            recs.append((lots.geom[idx], "G1", "G13", None))
        squares = np.flatnonzero(u == "square")
        for idx in squares:
            target = rng.uniform(6000, 9000) if lots.old[idx] else rng.uniform(10000, 20000)
            recs.append((_sub_rect(lots, idx, target, rng), "G3", None, None))
        # pocket parks 游园 at intersections of arterial/secondary roads (they overlap the G2 verges)
        kl, kr, kb, kt = lots.kinds
        n_pocket = max(5, int(round(30 * self.scale)))
        cand = []
        for idx in range(len(u)):
            if lots.near_desert[idx] or lots.old[idx] or u[idx] in ("none", "industrial"):
                continue
            for cx_, kx, sx in ((lots.x0[idx], kl[idx], 1), (lots.x1[idx], kr[idx], -1)):
                for cy_, ky, sy in ((lots.y0[idx], kb[idx], 1), (lots.y1[idx], kt[idx], -1)):
                    if kx == "line" and ky == "line":
                        gi, gj = round(cx_ / S), round(cy_ / S)
                        if _base_class(gi) >= 2 and _base_class(gj) >= 2:
                            cand.append((idx, cx_, cy_, sx, sy, gi, gj))
        chosen_pockets = [cand[i] for i in rng.choice(len(cand), min(n_pocket, len(cand)), replace=False)]
        pockets = []
        for idx, cx_, cy_, sx, sy, gi, gj in chosen_pockets:
            side = rng.uniform(24, 45)
            px = cx_ + sx * (self.line_width[(_ORIENT_V, gi)] / 2 + 2)
            py = cy_ + sy * (self.line_width[(_ORIENT_H, gj)] / 2 + 2)
            g = shapely.box(min(px, px + sx * side), min(py, py + sy * side), max(px, px + sx * side),
                            max(py, py + sy * side))
            pockets.append(g)
            recs.append((g, "G1", "G14", None))
        self.pocket_union = shapely.union_all(pockets) if pockets else shapely.Polygon()
        # G2 verges along arterials: a 15 m strip between the road edge and the lot
        for idx in range(len(u)):
            if u[idx] == "none":
                continue
            for kind, line_k, orient, sign, edge in ((kl[idx], lots.x0[idx], _ORIENT_V, 1, "x"),
                                                     (kr[idx], lots.x1[idx], _ORIENT_V, -1, "x"),
                                                     (kb[idx], lots.y0[idx], _ORIENT_H, 1, "y"),
                                                     (kt[idx], lots.y1[idx], _ORIENT_H, -1, "y")):
                gk = round(line_k / S)
                if kind != "line" or _base_class(gk) != 3:
                    continue
                hw = self.line_width[(orient, gk)] / 2
                a, b = line_k + sign * (hw + 2), line_k + sign * (hw + 22)
                if edge == "x":
                    g = shapely.box(min(a, b), lots.y0[idx] + 10, max(a, b), lots.y1[idx] - 10)
                else:
                    g = shapely.box(lots.x0[idx] + 10, min(a, b), lots.x1[idx] - 10, max(a, b))
                recs.append((g, "G2", None, f"{self.line_name[(orient, gk)]}防护绿地"))
        # attached green 附属绿地 in residential, school and public lots
        # (residential: one block of green in each half of the estate, ≈ 35–45 % together, the usual
        # 绿地率 of newer estates; now and then the same green digitised twice, overlapping)
        for idx in np.flatnonzero(np.isin(u, ["residential", "school", "public"])):
            if u[idx] == "residential":
                for half in (0, 1):
                    share = rng.uniform(0.17, 0.23)
                    recs.append((_sub_rect(lots, idx, share * lots.area[idx], rng, half=half), "XG", None, None))
                if rng.random() < 0.05:
                    recs.append((_sub_rect(lots, idx, 0.2 * lots.area[idx], rng, half=0), "XG", None, None))
            else:
                share = rng.uniform(0.2, 0.3)
                recs.append((_sub_rect(lots, idx, share * lots.area[idx], rng), "XG", None, None))
        geoms = np.array([r[0] for r in recs], dtype=object)
        cats = np.array([r[1] for r in recs], dtype=object)
        not_river = cats != "G2"
        geoms[not_river] = _cut(geoms[not_river], self.river_corridor)
        geoms = _clip(geoms, self.built)
        # river verges
        verge = shapely.intersection(shapely.difference(self.river.buffer(50.0), river_band), self.built)
        parts = shapely.get_parts(verge)
        parts = parts[shapely.area(parts) > 500]
        geoms = np.r_[geoms, parts]
        recs += [(None, "G2", None, f"{RIVER_NAME}防护绿带")] * len(parts)
        # regional green 区域绿地 outside the built-up area
        n_eg = max(2, int(round(3 * self.scale)))
        eg_geoms, eg_names = [], _unique_names(_EG, n_eg, rng)
        ring_out = self.built.buffer(150.0)
        for q in range(n_eg):
            ang = 2 * np.pi * q / n_eg + rng.uniform(-0.4, 0.4)
            dist = math.sqrt(self.built.area / np.pi) * 1.25 + rng.uniform(400, 1400)
            cx_, cy_ = dist * math.cos(ang), dist * math.sin(ang)
            blob = _blob(rng, cx_, cy_, rng.uniform(400, 650))
            eg_geoms.append(shapely.difference(blob, ring_out))
        geoms = np.r_[geoms, np.array(eg_geoms, dtype=object)]
        recs += [(None, "EG", None, nm) for nm in eg_names]
        sub = np.array([r[2] for r in recs], dtype=object)
        cats = np.array([r[1] for r in recs], dtype=object)
        names = np.array([r[3] for r in recs], dtype=object)
        geoms = _keep_polygons(geoms)
        keep = shapely.area(geoms) > 50
        self.green_plan = geoms[keep]
        self.green_attr = pd.DataFrame({"category": cats[keep], "subcategory": sub[keep], "name": names[keep]})
        # names for parks without one
        g = self.green_attr
        cnt = {"G12": 0, "G13": 0, "G14": 0, "G3": 0}
        special = list(rng.permutation(_SPECIAL_PARKS))
        square_names = _unique_names(_SQUARES, int(np.sum(g.category == "G3")), rng)
        res_words = list(rng.permutation(_BRANCH_WORDS))
        for i in range(len(g)):
            if g.name.iat[i] is not None:
                continue
            key = g.subcategory.iat[i] if g.category.iat[i] == "G1" else g.category.iat[i]
            if key == "G12":
                g.loc[g.index[i], "name"] = f"{res_words[cnt['G12'] % len(res_words)]}社区公园"
            elif key == "G13":
                g.loc[g.index[i], "name"] = special[cnt["G13"] % len(special)]
            elif key == "G14":
                g.loc[g.index[i], "name"] = f"{res_words[(cnt['G14'] + 7) % len(res_words)]}游园"
            elif key == "G3":
                g.loc[g.index[i], "name"] = square_names[cnt["G3"]]
            elif key == "XG":
                g.loc[g.index[i], "name"] = None
            if key in cnt:
                cnt[key] += 1

    # -------------------------------------------------------------- residential
    def _residential(self, rng):
        lots = self.lots
        idx = np.flatnonzero(lots.use == "residential")
        geom = shapely.difference(lots.geom[idx], self.pocket_union)
        geom = _keep_polygons(geom)
        area = shapely.area(geom)
        ok = area > 1500
        idx, geom, area = idx[ok], geom[ok], area[ok]
        density = np.where(lots.old[idx], rng.uniform(0.7, 1.0, len(idx)), rng.uniform(0.8, 1.6, len(idx)))
        pop = _largest_remainder(area * density, int(round(RESIDENTS * self.scale)))
        names = _estate_names(len(idx), rng)
        self.res_plan = geom
        self.res_attr = pd.DataFrame({"name": names, "population": pop})

    # -------------------------------------------------------------- candidates
    def _candidates(self, rng):
        lots = self.lots
        u = lots.use
        n = max(10, int(round(50 * self.scale)))
        quads = []
        for idx in np.flatnonzero(np.isin(u, ["vacant", "industrial", "public", "commercial"])):
            xs = np.linspace(lots.ix0[idx], lots.ix1[idx], 3)
            ys = np.linspace(lots.iy0[idx], lots.iy1[idx], 3)
            for a in range(2):
                for b in range(2):
                    quads.append((idx, xs[a], ys[b], xs[a + 1], ys[b + 1]))
        quads = np.array(quads, dtype=float)
        lot_idx = quads[:, 0].astype(int)
        in_desert = lots.desert[lot_idx]
        w = np.where(in_desert, 6.0, 1.0) * np.where(u[lot_idx] == "vacant", 3.0, 1.0)
        order = rng.choice(len(quads), size=min(len(quads), 3 * n), replace=False, p=w / w.sum())
        out = []
        for q in order:
            if len(out) >= n:
                break
            _, x0, y0, x1, y1 = quads[q]
            target = float(np.exp(rng.uniform(np.log(500), np.log(15000))))
            aspect = rng.uniform(0.6, 1.7)
            wdt = min(math.sqrt(target * aspect), x1 - x0 - 6)
            hgt = min(target / max(wdt, 1.0), y1 - y0 - 6)
            if wdt < 15 or hgt < 15:
                continue
            ox = x0 + 3 + rng.uniform(0, x1 - x0 - 6 - wdt)
            oy = y0 + 3 + rng.uniform(0, y1 - y0 - 6 - hgt)
            g = shapely.difference(shapely.intersection(shapely.box(ox, oy, ox + wdt, oy + hgt), self.built),
                                   self.river_corridor)
            if g.area < 500:
                continue
            out.append(g)
        self.cand_plan = np.array(out, dtype=object)

    # -------------------------------------------------------------- final coordinates
    def _finalise(self):
        W = self.warp
        self.built_f = W.geoms(self.built)
        self.roads_f = W.geoms(self.roads_plan_geom)
        zones = W.geoms(self.zones_plan)
        self.zones_f = _keep_polygons(shapely.make_valid(shapely.intersection(shapely.make_valid(zones), self.built_f)))
        self.green_f = _keep_polygons(shapely.make_valid(W.geoms(self.green_plan)))
        self.res_f = _keep_polygons(shapely.make_valid(W.geoms(self.res_plan)))
        self.cand_f = _keep_polygons(shapely.make_valid(W.geoms(self.cand_plan)))
        self.gaps_f = [W.geoms(g) for g in self.zone_gaps_plan]

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


# ---------------------------------------------------------------------- geometry helpers
def _angle_diff(a, b):
    return (np.asarray(a) - b + np.pi) % (2 * np.pi) - np.pi


def _clip(geoms, poly):
    """``geoms ∩ poly``, skipping the (costly) overlay for geometries already inside ``poly``."""
    single = isinstance(geoms, shapely.Geometry)
    geoms = np.array([geoms], dtype=object) if single else np.asarray(geoms, dtype=object).copy()
    shapely.prepare(poly)
    todo = ~shapely.contains_properly(poly, geoms)
    geoms[todo] = shapely.intersection(geoms[todo], poly)
    return geoms[0] if single else geoms


def _cut(geoms, poly):
    """``geoms − poly``, only for the geometries that touch ``poly``."""
    geoms = np.asarray(geoms, dtype=object).copy()
    shapely.prepare(poly)
    todo = shapely.intersects(poly, geoms)
    geoms[todo] = shapely.difference(geoms[todo], poly)
    return geoms


def _union_area(geoms) -> float:
    """Area of the union of polygons: only clusters of overlapping ones are actually unioned."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)]
    if len(geoms) == 0:
        return 0.0
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    n = len(geoms)
    _, comp = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    size = np.bincount(comp)
    alone = size[comp] == 1
    total = float(shapely.area(geoms[alone]).sum())
    order = np.argsort(comp[~alone], kind="stable")
    grouped = geoms[~alone][order]
    bounds = np.r_[0, np.cumsum(np.bincount(comp[~alone])[np.unique(comp[~alone])])]
    for a, b in zip(bounds[:-1], bounds[1:]):
        total += shapely.union_all(grouped[a:b]).area
    return total


def _keep_polygons(geoms):
    """Keep only the polygonal parts (make_valid/intersection may leave lines or points)."""
    geoms = np.asarray(geoms, dtype=object) if not isinstance(geoms, shapely.Geometry) else np.array([geoms], dtype=object)
    out = geoms.copy()
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, [3, 6])
    for i in np.flatnonzero(bad):
        g = geoms[i]
        parts = shapely.get_parts(g) if g is not None else []
        polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
        out[i] = shapely.union_all(polys) if polys else shapely.Polygon()
    return out


def _blob(rng, cx: float, cy: float, r0: float, n: int = 96) -> shapely.Polygon:
    """An irregular star-shaped polygon of mean radius ``r0`` (woods, wetlands)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(2, 9)
    amp = rng.uniform(0.02, 0.14, len(k)) / np.sqrt(k - 1)
    r = r0 * (1 + (amp[:, None] * np.cos(k[:, None] * t + rng.uniform(0, 2 * np.pi, len(k))[:, None])).sum(0))
    return shapely.Polygon(np.c_[cx + r * np.cos(t), cy + r * np.sin(t)])


def _sub_rect(lots: _Lots, idx: int, target_area: float, rng, half: int | None = None):
    """A rectangle of about ``target_area`` inside lot ``idx`` (clipped like the lot).

    ``half`` = 0 or 1 keeps it in that half of the lot (split across its longer side, 2 m apart).
    """
    x0, y0, x1, y1 = lots.ix0[idx], lots.iy0[idx], lots.ix1[idx], lots.iy1[idx]
    if half is not None:
        if x1 - x0 >= y1 - y0:
            xm = (x0 + x1) / 2
            x0, x1 = (x0, xm - 1) if half == 0 else (xm + 1, x1)
        else:
            ym = (y0 + y1) / 2
            y0, y1 = (y0, ym - 1) if half == 0 else (ym + 1, y1)
    w, h = x1 - x0, y1 - y0
    frac = min(1.0, math.sqrt(target_area / max(w * h, 1.0)))
    fw = min(1.0, frac * rng.uniform(0.8, 1.25))
    fh = min(1.0, target_area / max(w * h * fw, 1.0))
    rw, rh = w * fw, h * fh
    ox = x0 + rng.uniform(0, w - rw)
    oy = y0 + rng.uniform(0, h - rh)
    return shapely.intersection(shapely.box(ox, oy, ox + rw, oy + rh), lots.geom[idx])


def _hour_profile(weights: dict[int, float]) -> np.ndarray:
    p = np.full(24, 0.02)
    for h, w in weights.items():
        p[h] += w
    p[:6] *= 0.2
    return p / p.sum()


# ---------------------------------------------------------------------- writing the files
@contextlib.contextmanager
def _fixed_gpkg_date():
    """GeoPackages stamp the write time into gpkg_contents; pin it so a seed gives identical bytes."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": DEMO_TODAY + "T00:00:00.000Z"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _lonlat(county: _County, x, y):
    lon, lat = county.to_wgs.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def _pt(county: _County, x: float, y: float) -> dict:
    lon, lat = _lonlat(county, [x], [y])
    return {"x": round(float(x), 2), "y": round(float(y), 2), "lon": round(float(lon[0]), 7),
            "lat": round(float(lat[0]), 7)}


def _write_canopy(county: _County, path: Path, pixel: float = 10.0) -> dict:
    """Fractional vegetation cover (0–1) at ``pixel`` metres: green polygons by class plus street trees."""
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    rng = np.random.default_rng([county.seed, 7])
    x0, y0, x1, y1 = county.built_f.bounds
    x0, y0 = math.floor((x0 - 300) / pixel) * pixel, math.floor((y0 - 300) / pixel) * pixel
    x1, y1 = math.ceil((x1 + 300) / pixel) * pixel, math.ceil((y1 + 300) / pixel) * pixel
    width, height = int(round((x1 - x0) / pixel)), int(round((y1 - y0) / pixel))
    sub = 4 if width * height * 16 <= 25e6 else (2 if width * height * 4 <= 40e6 else 1)
    fine = from_origin(x0, y1, pixel / sub, pixel / sub)
    cover_by_cat = {"G1": (0.7, 0.9), "G2": (0.8, 0.95), "G3": (0.15, 0.3), "XG": (0.6, 0.85), "EG": (0.75, 0.95)}
    cats = county.green_attr.category.to_numpy()
    lo = np.array([cover_by_cat[c][0] for c in cats])
    hi = np.array([cover_by_cat[c][1] for c in cats])
    shapes = [(g, float(v)) for g, v in zip(county.green_f, rng.uniform(lo, hi))]
    # residential gardens and courtyards
    shapes += [(g, float(v)) for g, v in zip(county.res_f, rng.uniform(0.08, 0.18, len(county.res_f)))]
    # street trees: two rows of crowns (≈ 4 m radius) just inside the kerb of most roads
    roads = county.roads_plan
    treed = (roads.road_class.isin(["arterial", "secondary", "branch", "commercial"]).to_numpy()
             & (rng.random(len(roads)) < 0.8))
    lines = county.roads_f[treed]
    off = np.maximum(roads.width_m.to_numpy()[treed] / 2 - 1.5, 1.0)
    rows = np.r_[shapely.offset_curve(lines, off), shapely.offset_curve(lines, -off)]
    crowns = shapely.buffer(rows, 4.0, cap_style="flat", quad_segs=2)
    shapes += [(g, 0.9) for g in crowns]
    shapes.sort(key=lambda s: s[1])  # later shapes win: overlapping covers keep the highest
    arr = rasterize(shapes, out_shape=(height * sub, width * sub), transform=fine, fill=0.0, dtype="float32")
    arr = arr.reshape(height, sub, width, sub).mean(axis=(1, 3))
    arr = np.clip(arr * rng.normal(1.0, 0.06, arr.shape), 0.0, 1.0).astype("float32")
    transform = from_origin(x0, y1, pixel, pixel)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs=county.crs.to_wkt(), transform=transform, compress="deflate", tiled=True,
                       blockxsize=256, blockysize=256) as dst:
        dst.write(arr, 1)
        dst.update_tags(1, DESCRIPTION="fractional vegetation cover 0-1")
    return {"pixel_m": pixel, "width": width, "height": height, "mean_cover": round(float(arr.mean()), 4)}


def generate_demo_files(out_dir, *, seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict:
    """Write the demo county's raw files and ``manifest.json`` into ``out_dir``; return the manifest.

    Parameters
    ----------
    out_dir : path
        Folder for the files (created).
    seed : int
        Seed of the numpy Generator; the same seed writes the same files.
    scale : float
        Multiplies area and counts: built-up area 17.5 km² × scale, 150 000 × scale residents,
        about 50 × scale zones, 30 000 × scale inspection cases.

    Returns
    -------
    dict
        The manifest: seed, scale, CRS, centre, ``imports`` (layer, path and the keyword options
        of :func:`civgis.store.importers.import_file` for every file) and ``planted`` facts (in the workspace
        CRS, metres, with WGS84 lon/lat), ``counts``.

    Examples
    --------
    >>> import tempfile
    >>> m = generate_demo_files(tempfile.mkdtemp(), scale=0.2)
    >>> [len(m["planted"][k]) >= 3 for k in ("zone_gaps", "zone_overlaps", "unlit_stretches")]
    [True, True, True]
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    c = _County(seed, scale).build()
    crs = c.crs
    gk = lambda geoms: gpd.GeoSeries(geoms, crs=crs)
    imports = []

    def record(layer, path, fmt, crs_text, **options):
        imports.append({"layer": layer, "path": path, "format": fmt, "crs": crs_text,
                        "encoding": options.get("encoding"), "coords": options.get("coords", "wgs84"),
                        "lon": options.get("lon"), "lat": options.get("lat"), "options": options})

    # built-up boundary: GeoJSON, WGS84
    built = gpd.GeoDataFrame({"名称": [f"{COUNTY_NAME}建成区"]}, geometry=gk([c.built_f]))
    built.to_crs(4326).to_file(out / "built_up.geojson", driver="GeoJSON")
    record("built_up", "built_up.geojson", "GeoJSON", "EPSG:4326")

    # zones: GeoPackage in the Gauss-Krüger CRS, Chinese column names
    z = c.zones_attr
    zones = gpd.GeoDataFrame({"责任区编号": z.zone_id, "责任区名称": z.name, "责任单位": z.unit,
                              "责任人": z.staff, "联系电话": z.phone}, geometry=gk(c.zones_f))
    # green land: GeoPackage in CGCS2000 geographic (EPSG:4490), as surveying offices deliver it
    g = c.green_attr
    green_ids = [f"GL{i + 1:04d}" for i in range(len(g))]
    green = gpd.GeoDataFrame({"绿地编号": green_ids, "名称": g.name, "绿地类别": g.category, "中类": g.subcategory},
                             geometry=gk(c.green_f))
    # residential land: GeoPackage, Gauss-Krüger
    r = c.res_attr
    res_ids = [f"R{i + 1:04d}" for i in range(len(r))]
    residential = gpd.GeoDataFrame({"编号": res_ids, "小区名称": r.name, "常住人口": r.population},
                                   geometry=gk(c.res_f))
    with _fixed_gpkg_date():
        pyogrio.write_dataframe(zones, out / "zones.gpkg", layer="包保责任区", driver="GPKG")
        pyogrio.write_dataframe(green.to_crs(4490), out / "green.gpkg", layer="绿地", driver="GPKG")
        pyogrio.write_dataframe(residential, out / "residential.gpkg", layer="居住用地", driver="GPKG")
    record("zones", "zones.gpkg", "GPKG", f"EPSG:{CRS_EPSG}")
    record("green", "green.gpkg", "GPKG", "EPSG:4490")
    record("residential", "residential.gpkg", "GPKG", f"EPSG:{CRS_EPSG}")

    # candidate plots: GeoJSON, WGS84
    cand_ids = [f"KD{i + 1:03d}" for i in range(len(c.cand_f))]
    cand_pts = shapely.point_on_surface(c.cand_f)
    nearest_road = [c.roads_plan.name.iat[i] for i in
                    shapely.STRtree(c.roads_f).nearest(cand_pts)] if len(c.cand_f) else []
    cands = gpd.GeoDataFrame({"地块编号": cand_ids, "地块名称": [f"{nm}边闲置地块" for nm in nearest_road]},
                             geometry=gk(c.cand_f))
    cands.to_crs(4326).to_file(out / "candidates.geojson", driver="GeoJSON")
    record("candidates", "candidates.geojson", "GeoJSON", "EPSG:4326")

    # roads: ESRI Shapefile in GBK *without* a .cpg, Chinese columns and values
    rp = c.roads_plan
    road_ids = np.array([f"DL{i + 1:05d}" for i in range(len(rp))])
    roads = gpd.GeoDataFrame({"道路编号": road_ids, "道路名称": rp.name.to_numpy(),
                              "道路等级": rp.road_class.map(CLASS_ZH).to_numpy(), "路宽": rp.width_m.to_numpy(),
                              "机扫": np.where(rp.mech_swept, "是", "否")}, geometry=gk(c.roads_f))
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        (out / f"roads{suffix}").unlink(missing_ok=True)
    pyogrio.write_dataframe(roads.to_crs(4326), out / "roads.shp", driver="ESRI Shapefile", encoding="GBK")
    (out / "roads.cpg").unlink(missing_ok=True)  # as office files usually come: the user must say GBK
    record("roads", "roads.shp", "ESRI Shapefile", "EPSG:4326", encoding="gbk")

    # lamps: GBK CSV with GCJ-02 (Amap) coordinates
    lon, lat = _lonlat(c, shapely.get_x(c.lamps_f), shapely.get_y(c.lamps_f))
    glon, glat = from_wgs84(lon, lat, "gcj02")
    lamp_ids = np.char.add(ADMIN_CODE + "0118", np.char.zfill(np.arange(1, len(lon) + 1).astype(str), 6))
    lamps = pd.DataFrame({"路灯编号": lamp_ids, "经度": np.round(glon, 6), "纬度": np.round(glat, 6),
                          "状态": np.where(c.lamps_attr.broken, "故障", "正常")})
    lamps.to_csv(out / "lamps.csv", index=False, encoding="gbk", lineterminator="\n")
    record("lamps", "lamps.csv", "CSV", "GCJ-02", encoding="gbk", lon="经度", lat="纬度", coords="gcj02")

    # toilets: Excel sheet with BD-09 (Baidu) coordinates
    tlon, tlat = _lonlat(c, shapely.get_x(c.toilets_f), shapely.get_y(c.toilets_f))
    blon, blat = from_wgs84(tlon, tlat, "bd09")
    toilet_ids = [f"{ADMIN_CODE}0301{i + 1:06d}" for i in range(len(tlon))]
    _write_xlsx(out / "toilets.xlsx", ["公厕编号", "名称", "经度", "纬度", "无障碍"],
                zip(toilet_ids, c.toilets_attr.name, np.round(blon, 6).tolist(), np.round(blat, 6).tolist(),
                    np.where(c.toilets_attr.accessible, "是", "否").tolist()), sheet="公厕台账")
    record("toilets", "toilets.xlsx", "XLSX", "BD-09", lon="经度", lat="纬度", coords="bd09")

    # inspection cases: UTF-8 CSV with GCJ-02 coordinates (as the digital city-management system exports)
    cs = c.cases
    ilon, ilat = _lonlat(c, cs.x.to_numpy(), cs.y.to_numpy())
    iglon, iglat = from_wgs84(ilon, ilat, "gcj02")
    fmt = lambda col: pd.Series(pd.to_datetime(cs[col]).dt.strftime("%Y-%m-%d %H:%M:%S")).fillna("")
    cases = pd.DataFrame({"case_id": cs.case_id, "category": cs.category, "reported_at": fmt("reported_at"),
                          "deadline": fmt("deadline"), "closed_at": fmt("closed_at"), "status": cs.status,
                          "lon": np.round(iglon, 6), "lat": np.round(iglat, 6)})
    cases.to_csv(out / "inspections.csv", index=False, encoding="utf-8", lineterminator="\n")
    record("inspections", "inspections.csv", "CSV", "GCJ-02", lon="lon", lat="lat", coords="gcj02")

    # canopy raster: GeoTIFF in the projected CRS
    canopy = _write_canopy(c, out / "canopy.tif")
    record("canopy", "canopy.tif", "GeoTIFF", f"EPSG:{CRS_EPSG}")

    manifest = _manifest(c, imports, zone_ids=z.zone_id.tolist(), road_ids=road_ids, cand_ids=cand_ids,
                         green_ids=green_ids, canopy=canopy)
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def _write_xlsx(path: Path, header: list[str], rows, *, sheet: str) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    stamp = dt.datetime.fromisoformat(DEMO_TODAY)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "civgis demo"
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl stamps every zip member with the current time: re-pack with a fixed one (same seed, same bytes)
    import zipfile

    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl sets "modified" to now on save
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode(),
                              data)
            dst.writestr(fixed, data)


def _manifest(c: _County, imports, *, zone_ids, road_ids, cand_ids, green_ids, canopy) -> dict:
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


# ---------------------------------------------------------------------- building workspaces
def build_demo_workspace(out_dir, *, seed: int = DEFAULT_SEED, scale: float = 1.0, progress: bool = False):
    """Generate the raw files into ``out_dir/raw`` and import them into ``out_dir/county.gpkg``.

    Every file goes through the real importer, :func:`civgis.store.importers.import_file`, with the options
    recorded in the manifest (``encoding="gbk"`` for the shapefile, ``coords="gcj02"`` for the
    lamps …), exactly as a user would run ``civgis import``. An existing ``county.gpkg`` is replaced.

    Parameters
    ----------
    out_dir : path
        Output folder: ``raw/`` (the files and ``manifest.json``) and ``county.gpkg``.
    seed, scale
        As for :func:`generate_demo_files`.
    progress : bool
        Print one line per imported file to stderr.

    Returns
    -------
    Workspace

    Examples
    --------
    >>> import tempfile
    >>> ws = build_demo_workspace(tempfile.mkdtemp(), scale=0.2)
    >>> ws.crs.to_epsg(), ws.read("residential").population.sum()
    (4527, np.int64(30000))
    """
    import sys


    out = Path(out_dir)
    raw = out / "raw"
    manifest = generate_demo_files(raw, seed=seed, scale=scale)
    path = out / "county.gpkg"
    tmp = out / f".county.{uuid.uuid4().hex}.gpkg"
    try:
        ws = Workspace.create(tmp, crs=manifest["crs"])
        steps = manifest["imports"]
        for entry in steps:
            report = import_file(ws, entry["layer"], raw / entry["path"], **entry["options"])
            if progress:
                print(f"  导入 {entry['layer']}: {report.count} ← {entry['path']}", file=sys.stderr)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        for extra in out.glob(f".{tmp.name}.lock"):
            extra.unlink(missing_ok=True)
    return Workspace(path)


def demo_workspace(path=None, *, seed: int = DEFAULT_SEED):
    """The demo county workspace, built once and cached in ``path`` (default :func:`demo_cache_dir`).

    Rebuilt when the cached ``county.gpkg`` is missing or older than this module. Safe when
    several notebooks start at once (a file lock serialises the build). The planted facts are
    in ``load_manifest(ws.path.parent)``.

    Examples
    --------
    >>> ws = demo_workspace()                      # doctest: +SKIP
    >>> load_manifest(ws.path.parent)["today"]     # doctest: +SKIP
    '2026-11-28'
    """

    path = Path(path) if path is not None else demo_cache_dir()
    gpkg = path / "county.gpkg"
    stamp = Path(__file__).stat().st_mtime
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if gpkg.exists() and gpkg.stat().st_mtime >= stamp and (path / "raw" / "manifest.json").exists():
            return Workspace(gpkg)
        return build_demo_workspace(path, seed=seed)


def demo_cache_dir() -> Path:
    """Where :func:`demo_workspace` caches the demo: ``$CIVGIS_DEMO_DIR``, else the user cache
    (``$XDG_CACHE_HOME/civgis/demo``, default ``~/.cache/civgis/demo``) — never inside the
    installed package, which may be read-only."""
    if os.environ.get("CIVGIS_DEMO_DIR"):
        return Path(os.environ["CIVGIS_DEMO_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "civgis" / "demo"


def load_manifest(out_dir) -> dict:
    """The manifest of a demo folder (``out_dir/manifest.json`` or ``out_dir/raw/manifest.json``)."""
    out = Path(out_dir)
    for candidate in (out / "manifest.json", out / "raw" / "manifest.json"):
        if candidate.exists():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise FileNotFoundError(f"no manifest.json in {out}")
