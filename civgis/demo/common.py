"""Constants, name pools and geometry helpers shared by the demo county's plan, assets and files."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import shapely


__all__ = ["_ORIENT_H", "_ORIENT_V", "_lonlat", "_pt", "DEFAULT_SEED", "DEMO_TODAY", "PERIOD", "COUNTY_NAME", "ADMIN_CODE", "CENTRE_LONLAT", "CRS_EPSG", "BUILT_UP_KM2", "RESIDENTS", "GRID_M", "CLASS_ZH", "DEADLINE_HOURS", "_CN_DIGITS", "_cn_number", "_ARTERIAL", "_SECONDARY", "_BRANCH_WORDS", "_ALLEYS", "_COMMERCIAL", "_RES_WORDS", "_SURNAMES", "_GIVEN", "_STREETS", "_BIG_PARKS", "_SPECIAL_PARKS", "_SQUARES", "_EG", "RIVER_NAME", "_base_class", "_CLASS_CODES", "_NAME_ENDINGS", "_unique_names", "_estate_names", "_person", "_largest_remainder", "_Warp", "_Lots", "_angle_diff", "_clip", "_cut", "_union_area", "_keep_polygons", "_blob", "_sub_rect", "_hour_profile"]

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


# ---------------------------------------------------------------------- coordinates of a generated county
def _lonlat(county, x, y):
    lon, lat = county.to_wgs.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def _pt(county, x: float, y: float) -> dict:
    lon, lat = _lonlat(county, [x], [y])
    return {"x": round(float(x), 2), "y": round(float(y), 2), "lon": round(float(lon[0]), 7),
            "lat": round(float(lat[0]), 7)}
