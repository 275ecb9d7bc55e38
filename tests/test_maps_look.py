"""The printed maps on the demo county, written to build/screenshots/ to look at.

Each map is checked for what a reader needs: its legend names every drawn layer (and nothing not
drawn), no glyph is missing from the CJK font (no tofu boxes), the hot-spot classes are one shape
each (no cell edges: 21 m hexagons with outlines read as moiré), the greening sites are labelled
with rank, area and new residents as the plan gives them. The PNGs are kept in
build/screenshots/ (hotspots.png, emerging.png, greening_map.png, patrol_<zone>.png and its
checklist pages).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from civgis.analysis.cases import case_states
from civgis.analysis.hotspots import BIN_LABELS_ZH
from civgis.render.fonts import cjk_rc

SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
AS_OF = "2026-11-28"


@pytest.fixture(scope="module")
def ws():
    from civgis.demo import demo_workspace

    return demo_workspace()   # the cached demo county (read only)


@pytest.fixture(scope="module")
def hot(ws):
    from civgis.analysis.hotspots import hotspots_workspace

    return hotspots_workspace(ws)


class NoTofu:
    """Records matplotlib's 'Glyph … missing from font' warnings while a map is drawn and saved."""

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self.records = self._cm.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)
        missing = [str(w.message) for w in self.records if "missing from" in str(w.message)]
        assert not missing, missing[:3]


def _not_blank(path: Path, min_colours: int = 8) -> None:
    img = np.asarray(Image.open(path).convert("RGB").reduce(4))
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= min_colours


def test_hotspot_png_has_context_and_a_legend_of_every_drawn_layer(ws, hot):
    from matplotlib.collections import PatchCollection

    from civgis.render.hotspots import draw_hotspots, hotspot_png

    context = {"built_up": ws.read("built_up"), "zones": ws.read("zones"), "roads": ws.read("roads")}
    with NoTofu(), pd.option_context("mode.chained_assignment", None):
        import matplotlib

        with matplotlib.rc_context(cjk_rc()):
            fig = Figure(figsize=(10, 10.6))
            labels = draw_hotspots(fig, hot.cells, title="巡查案件热点分布（Gi* 置信度）", **context)
            fig.savefig(SHOTS / "hotspots_test.png", dpi=60)
        path = hotspot_png(hot.cells, SHOTS / "hotspots.png", title="巡查案件热点分布（Gi* 置信度）", **context)
    # one legend row per class present, with its cell count counted here
    counts = hot.cells["gi_bin"].value_counts()
    expected = [f"{BIN_LABELS_ZH[b]}（{counts[b]:,} 格）" for b in BIN_LABELS_ZH if b in counts]
    assert labels == expected + ["道路", "包保责任区", "建成区范围"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == labels
    # the classes are dissolved (a few hundred polygon parts, not 48 347 hexagons) and drawn without outlines
    classes = [c for c in fig.axes[0].collections if isinstance(c, PatchCollection)][0]
    assert len(classes.get_paths()) < len(hot.cells) / 20
    assert np.all(classes.get_linewidths() == 0)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "北 N" in texts and any(t.endswith("千米") or t.endswith("米") for t in texts)   # north arrow, scale bar
    named = set(context["zones"]["name"]) & texts
    assert len(named) >= 10   # zone names as labels (those that fit without overlapping)
    assert set(context["roads"]["name"].dropna()) & texts   # main streets named
    _not_blank(path)


def test_hotspot_web_map_legend_and_context(ws, hot, tmp_path):
    from civgis.render.hotspots import hotspot_map, save_folium

    m = hotspot_map(hot.cells, built_up=ws.read("built_up"), zones=ws.read("zones"), roads=ws.read("roads"))
    page = save_folium(m, tmp_path / "h.html").read_text(encoding="utf-8")
    legend = page[page.index('class="civgis-legend"'):]
    legend = legend[:legend.index("</div></div>")]
    for b in hot.cells["gi_bin"].unique():
        assert BIN_LABELS_ZH[b] in legend
    for name in ("道路", "包保责任区", "建成区范围"):
        assert name in legend
    zname = ws.read("zones")["name"].iloc[0]
    assert json.dumps(zname)[1:-1] in page   # zone names in the tooltips (folium writes JSON \u escapes)


def test_greening_png_labels_sites_with_rank_area_and_residents(ws):
    import matplotlib

    from civgis.render.greening import plot_greening, save_greening_png, save_greening_map
    from civgis.run.context import RunContext

    with RunContext(ws, as_of=AS_OF) as run:
        plan = run.greening
    ctx = {"boundary": ws.read("built_up"), "zones": ws.read("zones"), "roads": ws.read("roads")}
    with NoTofu():
        with matplotlib.rc_context(cjk_rc()):
            fig = Figure(figsize=(10, 10.4))
            ax = fig.add_axes([0.03, 0.03, 0.94, 0.9])
            plot_greening(plan, ax=ax, **ctx)
            fig.savefig(SHOTS / "greening_test.png", dpi=50)
        path = save_greening_png(plan, SHOTS / "greening_map.png", **ctx)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["现有公园绿地", "服务盲区（现状）", "候选地块", "道路", "包保责任区", "建成区范围",
                      "选中地块（序号 · 面积 · 新增覆盖人口）", "选中地块服务半径"]
    labels = {t.get_text() for t in ax.texts}
    chosen = plan.chosen
    for rank, geom, new in zip(chosen["rank"], chosen.geometry, plan.sites["new_residents"]):
        assert f"{rank} · {geom.area / 1e4:.2f} 公顷 · +{new:,.0f} 人" in labels
    pct0, pct1 = 100 * plan.covered_before / plan.population, 100 * plan.covered_after / plan.population
    assert f"{pct0:.1f}% → {pct1:.1f}%" in ax.get_title(loc="left")
    texts = {t.get_text() for t in ax.texts}
    assert "北 N" in texts and "1 千米" in texts
    _not_blank(path)
    page = save_greening_map(plan, SHOTS / "greening_map.html", boundary=ctx["boundary"]).read_text(encoding="utf-8")
    legend_html = page[page.index('class="civgis-legend"'):]
    for name in ("建成区范围", "现有公园绿地", "服务盲区（现状）", "候选地块", "新增服务范围", "选中地块"):
        assert name in legend_html
    assert "见缝插绿选址" in page and f"{pct0:.1f}% → {pct1:.1f}%" in page


def test_patrol_map_and_checklist_of_the_busiest_zone(ws, tmp_path):
    """The demo zone with most open cases: its checklist lists exactly its open cases and broken lamps."""
    import re

    import pypdf

    from civgis.render.printmaps import render_patrol_maps

    zones = ws.read("zones")
    cases = ws.read("inspections")
    T = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    closed = (cases["status"] == "closed") & (pd.to_datetime(cases["closed_at"]) < T)
    open_ = cases[(pd.to_datetime(cases["reported_at"]) < T) & ~closed]
    zone_of = gpd.sjoin(open_, zones, predicate="intersects").groupby("case_id")["zone_id"].min()
    zid = zone_of.value_counts().idxmax()
    lamps = ws.read("lamps")
    broken = gpd.sjoin(lamps[lamps["status"] == "broken"], zones[zones["zone_id"] == zid], predicate="intersects")
    with NoTofu():
        paths = render_patrol_maps(ws, [zid], SHOTS, fmt="png", progress=False, as_of=AS_OF, dpi=110,
                                   date=pd.Timestamp(AS_OF).date())
        (pdf,) = render_patrol_maps(ws, [zid], tmp_path, progress=False, as_of=AS_OF)
    pages = pypdf.PdfReader(pdf).pages
    assert len(paths) == len(pages) and paths[0].name == f"patrol_{zid}.png"
    text = "\n".join(p.extract_text() for p in pages[1:])
    assert sorted(re.findall(r"\bAJ\d{12}\b", text)) == sorted(zone_of[zone_of == zid].index)
    assert sorted(re.findall(r"\b\d (\d{16})", text)) == sorted(broken["lamp_id"])   # 序号, then the id
    assert len(pages) >= 3   # 50+ open cases: the list continues on a second checklist page
    for p in paths:
        _not_blank(p, min_colours=3)


def _drawn(draw) -> np.ndarray:
    """The RGBA pixels of a small map axes after ``draw(ax)`` (Agg, fixed limits)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(3, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    draw(ax)
    ax.set_xlim(-1, 11)
    ax.set_ylim(-1, 11)
    ax.set_aspect("equal", adjustable="datalim")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_collection_helpers_hold_the_shapely_coordinates_and_draw_like_geopandas():
    """The vectorised collections: one path per (multi)polygon with its holes, one segment per line part,
    and the same pixels as geopandas' ``.plot`` (normalized rings, so dash patterns fall the same)."""
    import shapely
    from matplotlib.path import Path as MPath
    from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon, box

    from civgis.render.mapcontext import add_lines, add_polygons, line_segments, polygon_paths

    holed = Polygon([(0, 0), (6, 0), (6, 6), (0, 6)], [[(2, 2), (4, 2), (4, 4), (2, 4)]])
    multi = MultiPolygon([box(7, 7, 9, 9), box(7, 0, 10, 3)])
    paths = polygon_paths([holed, None, multi])
    assert len(paths) == 2   # None dropped; the multipolygon is one compound path
    rings = [np.asarray(r.coords) for r in (shapely.normalize(holed).exterior, *shapely.normalize(holed).interiors)]
    assert np.array_equal(paths[0].vertices, np.vstack(rings))
    sizes = [len(r) for r in rings]   # 5 and 5: MOVETO, 3 × LINETO, CLOSEPOLY per ring
    expected = np.concatenate([[MPath.MOVETO] + [MPath.LINETO] * (n - 2) + [MPath.CLOSEPOLY] for n in sizes])
    assert np.array_equal(paths[0].codes, expected)
    assert len(paths[1].vertices) == 10 and (paths[1].codes == MPath.MOVETO).sum() == 2
    lines = [MultiLineString([[(0, 0), (5, 5)], [(6, 6), (8, 6), (8, 9)]]), LineString([(1, 9), (9, 1)])]
    segs = line_segments(lines)
    parts = [q for g in lines for q in getattr(shapely.normalize(g), "geoms", [shapely.normalize(g)])]
    assert [s.tolist() for s in segs] == [np.asarray(q.coords).tolist() for q in parts]   # one per part, 3 in all
    assert sorted(map(len, segs)) == [2, 2, 3]

    frame = gpd.GeoDataFrame(geometry=[holed, multi])
    kw = dict(alpha=0.5, edgecolor="#1f5fbf", linewidth=1.5, zorder=2)
    ours = _drawn(lambda ax: (add_polygons(ax, frame.geometry.values, color="#6fa8ff", **kw),
                              add_lines(ax, shapely.boundary(np.asarray(frame.geometry.values)), color="#444444",
                                        linewidth=1.0, linestyle=(0, (6, 3)), zorder=3)))
    theirs = _drawn(lambda ax: (frame.plot(ax=ax, color="#6fa8ff", **kw),
                                frame.boundary.plot(ax=ax, color="#444444", linewidth=1.0, linestyle=(0, (6, 3)),
                                                    zorder=3)))
    assert (ours[..., :3] != 255).any()   # something was drawn
    assert np.array_equal(ours, theirs)
    assert add_lines(Figure().add_subplot(), []) is None and add_polygons(Figure().add_subplot(), [None]) is None


def test_add_points_draws_what_scatter_draws_on_screen_and_in_a_pdf():
    """``add_points`` (the patrol maps' lamps, toilets and cases) gives ``ax.scatter``'s pixels, data limits
    and PDF operators for every marker the maps use, with edges, alpha and zorder."""
    import io

    from matplotlib.backends.backend_pdf import FigureCanvasPdf

    from civgis.render.mapcontext import add_points

    xy = np.array([[1.0, 2.0], [5.5, 5.0], [9.0, 8.5], [3.0, 9.0]])
    layers = [dict(s=9, color="#ffb300", edgecolors="#5d4037", linewidths=0.3, zorder=7),
              dict(s=42, color="#c62828", marker="X", edgecolors="white", linewidths=0.5, zorder=8, alpha=0.25),
              dict(s=110, color="#00897b", marker="s", edgecolors="white", linewidths=0.8, zorder=8),
              dict(s=40, color="#e53935", marker="^", edgecolors="black", linewidths=1.2, zorder=8)]

    def ours(ax):
        for k, kw in enumerate(layers):
            add_points(ax, xy + k * 0.4, **kw)

    def theirs(ax):
        for k, kw in enumerate(layers):
            ax.scatter(xy[:, 0] + k * 0.4, xy[:, 1] + k * 0.4, **kw)

    mine, scattered = _drawn(ours), _drawn(theirs)
    assert (mine[..., :3] != 255).sum() > 500   # the markers were drawn
    assert np.array_equal(mine, scattered)

    def pdf(draw) -> tuple[bytes, tuple]:
        fig = Figure(figsize=(3, 3))
        FigureCanvasPdf(fig)
        ax = fig.add_axes([0, 0, 1, 1])
        draw(ax)
        limits = tuple(ax.dataLim.extents)
        ax.set_xlim(-1, 11)
        ax.set_ylim(-1, 11)
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf", metadata={"CreationDate": None, "Producer": None})
        return buf.getvalue(), limits

    (doc, lim), (doc0, lim0) = pdf(ours), pdf(theirs)
    assert lim == lim0 == (1.0, 2.0, 9.0 + 1.2, 9.0 + 1.2)
    assert doc == doc0
    assert add_points(Figure().add_subplot(), np.zeros((0, 2)), s=9, color="red") is None
    with pytest.raises(ValueError, match="not filled"):
        add_points(Figure().add_subplot(), xy, s=9, color="red", marker="+")


def test_fix_view_first_draws_the_same_map_without_autoscaling_each_layer():
    """``fix_view`` before the layers (what the maps do) gives the pixels of limits set at the end, with the
    data limits still grown by every layer (``adjustable="datalim"`` reads them) and autoscaling off."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from shapely.geometry import LineString, box

    from civgis.render.mapcontext import add_lines, add_polygons, finish_axes, fix_view

    view = (-1.0, -1.0, 11.0, 11.0)
    tall = [box(0, -20, 4, 30), box(6, 2, 9, 8)]   # data taller than the view: the aspect has a choice to make

    def drawn(first: bool):
        fig = Figure(figsize=(4, 2), dpi=80)   # a wide box, a square view: one axis is widened
        FigureCanvasAgg(fig)
        ax = fig.add_axes([0, 0, 1, 1])
        if first:
            fix_view(ax, view)
            assert not ax.get_autoscalex_on() and not ax.get_autoscaley_on()
        add_polygons(ax, tall, color="#6fa8ff", edgecolor="#1f5fbf", linewidth=1.0)
        add_lines(ax, [LineString([(-5, 5), (15, 5)])], color="#444444", linewidth=2.0)
        assert tuple(ax.dataLim.extents) == (-5.0, -20.0, 15.0, 30.0)   # every layer's extent, either way
        finish_axes(ax, view)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy(), ax.get_xlim(), ax.get_ylim()

    (ours, xlim, ylim), (theirs, xlim0, ylim0) = drawn(True), drawn(False)
    assert (ours[..., :3] != 255).any()
    assert np.array_equal(ours, theirs) and xlim == xlim0 and ylim == ylim0
    assert xlim[1] - xlim[0] == pytest.approx(2 * (ylim[1] - ylim[0]))   # equal scale in a 2:1 box


def test_save_png_writes_the_pixels_of_savefig_at_its_own_compression(tmp_path):
    """``save_png`` is lossless: the pixels of matplotlib's own ``savefig``; the level is Pillow's
    ``compress_level`` (level 0 stores the pixels uncompressed, so its file is the largest)."""
    import io

    from civgis.render.png import PNG_COMPRESS_LEVEL, save_png

    fig = Figure(figsize=(3, 2), dpi=100)
    ax = fig.add_subplot()
    ax.fill([0, 1, 1], [0, 0, 1], color="#81c784")
    ax.text(0.2, 0.6, "green land", fontsize=12)
    ours, theirs, stored = io.BytesIO(), io.BytesIO(), io.BytesIO()
    save_png(fig, ours, dpi=100)
    fig.savefig(theirs, format="png", dpi=100)
    save_png(fig, stored, dpi=100, pil_kwargs={"compress_level": 0})
    pixels = [np.asarray(Image.open(b).convert("RGBA")) for b in (ours, theirs, stored)]
    assert pixels[0].shape == (200, 300, 4) and np.array_equal(pixels[0], pixels[1]) and np.array_equal(pixels[0], pixels[2])
    assert 0 < PNG_COMPRESS_LEVEL < 9 and len(stored.getvalue()) > 4 * len(ours.getvalue())
