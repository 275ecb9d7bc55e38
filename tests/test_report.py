"""The readiness report: complete, offline, the same numbers as the CLI, robust to a malformed layer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from civgis.cli import main
from civgis.demo import DEMO_TODAY
from civgis.run.report import SECTIONS, write_report
from civgis.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_report(demo_ws, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(demo_ws, out, as_of=DEMO_TODAY, sites=5)


def cli_json(capsys, *argv) -> dict | list:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_section_is_written(demo_report, demo_ws):
    assert demo_report.errors == {}
    data = json.loads((demo_report.index.parent / "report.json").read_text(encoding="utf-8"))
    assert [s.key for s in SECTIONS] == list(data["sections"])
    assert all(s["ok"] for s in data["sections"].values())
    out = demo_report.index.parent
    n_zones = len(demo_ws.read("zones"))
    assert len(list((out / "patrol").glob("patrol_*.pdf"))) >= n_zones
    assert len(list((out / "maps").glob("zone_*.html"))) == n_zones
    for name in ("ledger.xlsx", "county.png", "maps/county.html", "hotspots/hotspots.gpkg", "greening/greening_map.png"):
        assert (out / name).exists(), name


def test_report_numbers_equal_the_cli(demo_report, demo_ws, capsys, tmp_path):
    sections = json.loads((demo_report.index.parent / "report.json").read_text(encoding="utf-8"))["sections"]
    ws = demo_ws.path
    # indicators: every city row's value and verdict
    cli = cli_json(capsys, "indicators", ws, "--zones", "--json")
    rows = cli["indicators"] if isinstance(cli, dict) else cli
    cli_city = {(r["indicator"], r.get("road_class")): r for r in rows if r["scope"] == "city"}
    for r in sections["indicators"]["city"]:
        other = cli_city[(r["indicator"], r.get("road_class"))]
        assert r["value"] == pytest.approx(other["value"], rel=1e-12, nan_ok=True)
        assert r["passed"] == other["passed"]
    # audit: the same gaps and overlaps
    audit = cli_json(capsys, "audit", ws, "--json")
    assert sections["audit"]["gaps"] == audit["gaps"]
    assert sections["audit"]["overlaps"] == audit["overlaps"]
    # ledger at the same date
    ledger = cli_json(capsys, "ledger", ws, "--as-of", DEMO_TODAY, "--json")
    assert sections["ledger"]["totals"] == ledger["totals"]
    # greening with the same number of sites
    greening = cli_json(capsys, "greening", ws, "--sites", 5, "--json")
    assert [s["site_id"] for s in sections["greening"]["sites"]] == [s["site_id"] for s in greening["sites"]]
    assert sections["greening"]["covered_after"] == greening["covered_after"]
    # hot spots with the CLI's defaults
    hot = cli_json(capsys, "hotspots", ws, "--as-of", DEMO_TODAY, "--out", tmp_path / "hot", "--json")
    for key in ("cell_size_m", "band_m", "n_cases", "bins"):
        assert sections["hotspots"][key] == hot[key]
    assert sections["hotspots"]["emerging"]["categories"] == hot["emerging"]["categories"]


@pytest.mark.browser
def test_report_in_headless_chromium(demo_report):
    from browser import open_page

    ids = [s.key for s in SECTIONS]
    res = open_page(demo_report.index, width=1280, height=2400, queries={
        "sections": "[...document.querySelectorAll('main > section')].map(s => s.id)",
        "errors": "document.querySelectorAll('.error').length",
        "title": "document.getElementById('report-title').textContent",
        "indicator_rows": "document.querySelectorAll('#indicators tr[data-indicator]').length",
        "images_loaded": "[...document.images].every(i => i.complete && i.naturalWidth > 0)",
        # each inline chart drawn, and every text the browser set with the real font inside its chart
        "charts": "[...document.querySelectorAll('svg.chart')].map(svg => { const box = svg.getBoundingClientRect();"
                  " return [svg.id, box.width > 300 && box.height > 100, [...svg.querySelectorAll('text')].filter(t => {"
                  " const b = t.getBoundingClientRect(); return b.left < box.left - 0.5 || b.top < box.top - 0.5"
                  " || b.right > box.right + 0.5 || b.bottom > box.bottom + 0.5 }).map(t => t.textContent)] })",
    })
    assert res.console_errors == []
    assert [u for u in res.requests if not u.startswith(("file:", "data:", "about:"))] == []
    assert set(ids) <= set(res.results["sections"])
    assert res.results["errors"] == 0
    assert res.results["title"] == "创建全国文明城市 迎检准备报告"
    assert res.results["indicator_rows"] == len(demo_report.data["sections"]["indicators"]["city"])
    assert res.results["images_loaded"] is True
    assert res.results["charts"] == [[chart, True, []] for chart in ("chart-indicators", "chart-scorecard", "chart-monthly")]
    shots = REPO / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "report.png").write_bytes(res.screenshot)


def test_malformed_layer_is_reported_and_the_rest_still_works(demo_ws, tmp_path):
    path = tmp_path / "broken.gpkg"
    shutil.copy(demo_ws.path, path)
    ws = Workspace(path)
    cases = ws.read("inspections").drop(columns=["deadline"])  # as a bad import by hand would leave it
    ws.write("inspections", cases, source="test")
    result = write_report(ws, tmp_path / "report", as_of=DEMO_TODAY, sites=2, patrol_maps=False)
    sections = result.data["sections"]
    assert not sections["ledger"]["ok"] and "deadline" in sections["ledger"]["error"]
    assert sections["indicators"]["ok"] and sections["audit"]["ok"] and sections["greening"]["ok"]
    problems = sections["overview"]["problems"]
    assert any(p["layer"] == "inspections" and p["field"] == "deadline" and p["severity"] == "error" for p in problems)
    page = result.index.read_text(encoding="utf-8")
    assert "本部分未能生成" in page and "deadline" in page


# ---------------------------------------------------------------- patrol maps drawn beside the other sections
@pytest.fixture
def three_zone_ws(demo_ws, tmp_path):
    path = tmp_path / "three.gpkg"
    shutil.copy(demo_ws.path, path)
    ws = Workspace(path)
    ws.write("zones", ws.read("zones").head(3), source="test")
    return ws


def _pdf_text(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(path).pages]


def test_a_disabled_progress_bar_starts_no_thread():
    # a live thread makes the report draw its patrol maps inline, the patrol pool spawn and the web-map pages serial
    import threading

    from civgis.progress import progress
    from civgis.run.report import _fork_is_safe

    before = threading.active_count()
    bar = progress(total=3, enabled=False)
    bar.update(3)
    bar.close()
    assert threading.active_count() == before
    assert _fork_is_safe() == (before == 1)


def test_the_batch_collector_freezes_what_exists_restores_the_collector_and_still_collects_cycles():
    import gc
    import weakref

    from civgis.forking import BATCH_GC_THRESHOLD, batch_collector, freeze_before_fork

    assert gc.get_freeze_count() == 0, "an earlier test left objects frozen"
    before = gc.get_threshold()
    freeze_before_fork()   # outside a batch: the caller's collector is not touched
    assert gc.get_freeze_count() == 0

    class Node:
        pass

    with batch_collector():
        assert gc.get_threshold() == (BATCH_GC_THRESHOLD, *before[1:])
        frozen = gc.get_freeze_count()
        assert frozen > 1000   # the modules and everything alive at the start
        with batch_collector():   # a nested block (a report's patrol maps) leaves the outer freeze
            pass
        assert gc.get_freeze_count() >= frozen and gc.get_threshold()[0] == BATCH_GC_THRESHOLD
        # cycles made inside are still found by the collector on its own (no gc.collect() here)
        dead = []
        for _ in range(3 * BATCH_GC_THRESHOLD // 2):
            a, b = Node(), Node()
            a.other, b.other = b, a
            dead.append(weakref.ref(a))
        assert sum(ref() is None for ref in dead) >= BATCH_GC_THRESHOLD // 2
        kept = [Node() for _ in range(100)]
        freeze_before_fork()   # before a fork: what exists now is frozen too
        assert gc.get_freeze_count() >= frozen + len(kept)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0

    gc.freeze()   # a caller that froze objects itself keeps them frozen
    try:
        mine = gc.get_freeze_count()
        with batch_collector():
            pass
        assert gc.get_freeze_count() == mine
    finally:
        gc.unfreeze()


@pytest.fixture
def fork_allowed(monkeypatch):
    """The background mechanism under test even when an earlier test left a thread alive (distributed's
    LocalCluster leaves its own): when fork is safe is tested on its own (the thread tests below)."""
    import civgis.run.report as report

    monkeypatch.setattr(report, "_fork_is_safe", lambda: True)


def _background(output, run, *keys):
    from civgis.run.report import SECTIONS, _Background

    return _Background.start(output, run, [s for s in SECTIONS if s.key in keys])


def test_background_patrol_maps_equal_those_drawn_inline(three_zone_ws, tmp_path, fork_allowed):
    import os

    from civgis.render.printmaps import render_patrol_maps
    from civgis.run.context import RunContext
    from civgis.run.report import _Output
    with RunContext(three_zone_ws, as_of=DEMO_TODAY) as run:
        output = _Output(tmp_path / "bg", patrol_maps=True, progress=False)
        with _background(output, run, "patrol") as background:
            assert background.running and background.jobs["patrol"][0].pid != os.getpid()
            built = background.result("patrol", output)
        # the forked process did not remove the snapshot the report still reads
        assert len(run.layers.read("zones")) == 3 and Path(run.layers._pinned_path).exists()
        inline = render_patrol_maps(run.layers, out_dir=tmp_path / "inline", fmt="pdf", progress=False,
                                    as_of=run.as_of, workers=1)
    assert built["ok"] and built["background"] and built["seconds"] > 0
    paths = [p for p in output.written]
    assert [p.name for p in paths] == [p.name for p in inline]
    assert [m["href"] for m in built["maps"]] == [f"patrol/{p.name}" for p in inline]
    assert len(paths) == 3 + 1  # three zones and the combined file
    for drawn, expected in zip(paths, inline):
        assert _pdf_text(drawn) == _pdf_text(expected)


def test_background_hot_spots_equal_those_computed_inline(three_zone_ws, tmp_path, fork_allowed):
    from civgis.run.context import RunContext
    from civgis.run.report import SECTIONS, _build_one, _Output

    hotspots = next(s for s in SECTIONS if s.key == "hotspots")
    with RunContext(three_zone_ws, as_of=DEMO_TODAY) as run:
        output = _Output(tmp_path / "bg", patrol_maps=False, progress=False)
        with _background(output, run, "hotspots") as background:
            built = background.result("hotspots", output)
        inline = _build_one(hotspots, _Output(tmp_path / "inline", patrol_maps=False, progress=False), run)
    assert built["background"] and built["ok"] and inline["ok"]
    assert built["n_cases"] == inline["n_cases"] and built["band_m"] == inline["band_m"]
    assert built["zone_ranking"] == json.loads(json.dumps(inline["zone_ranking"], default=str))
    assert sorted(p.name for p in output.written) == sorted(Path(v).name for v in inline["files"].values())


def test_a_failing_background_patrol_reports_the_error(three_zone_ws, tmp_path, monkeypatch, fork_allowed):
    import civgis.run.report as report
    from civgis.render.printmaps import PrintMapError
    from civgis.run.context import RunContext

    def no_font(*args, **kwargs):
        raise PrintMapError("找不到中文字体 Noto Sans CJK SC：请安装 fonts-noto-cjk")

    monkeypatch.setattr("civgis.render.printmaps.render_patrol_maps", no_font)   # the forked child inherits it
    with RunContext(three_zone_ws, as_of=DEMO_TODAY) as run:
        output = report._Output(tmp_path / "bg", patrol_maps=True, progress=False)
        with _background(output, run, "patrol") as background:
            assert background.running
            section = background.result("patrol", output)
    assert not section["ok"] and "fonts-noto-cjk" in section["error"]


def test_a_background_process_that_dies_is_one_line_in_its_section(three_zone_ws, tmp_path, monkeypatch,
                                                                   fork_allowed):
    import os

    import civgis.run.report as report
    from civgis.run.context import RunContext

    monkeypatch.setattr("civgis.render.printmaps.render_patrol_maps", lambda *a, **k: os._exit(9))  # as if killed
    with RunContext(three_zone_ws, as_of=DEMO_TODAY) as run:
        output = report._Output(tmp_path / "bg", patrol_maps=True, progress=False)
        with _background(output, run, "patrol") as background:
            section = background.result("patrol", output)
    assert not section["ok"] and "退出码 9" in section["error"]


def test_sections_are_built_inline_when_a_thread_is_alive(three_zone_ws, tmp_path):
    import threading

    from civgis.run.context import RunContext
    from civgis.run.report import _Output

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        with RunContext(three_zone_ws, as_of=DEMO_TODAY) as run:
            assert not _background(_Output(tmp_path, patrol_maps=True, progress=False), run, "patrol", "hotspots").running
    finally:
        stop.set()
        worker.join()


def test_one_run_computes_the_case_states_once(demo_ws, tmp_path, monkeypatch):
    # the ledger, the zone table and the web maps of one run share the run's case_states
    import civgis.analysis.cases as cases
    from civgis.render.printmaps import render_patrol_maps
    from civgis.render.webmap import write_all_maps
    from civgis.run.context import RunContext

    calls = []
    parse = cases.parse_cases
    monkeypatch.setattr(cases, "parse_cases", lambda frame: calls.append(len(frame)) or parse(frame))
    with RunContext(demo_ws, as_of=DEMO_TODAY) as run:
        ledger, table = run.ledger, run.zone_summary
        write_all_maps(run.layers, tmp_path / "maps", zones=["Z01"], progress=False, as_of=run.as_of,
                       states=run.case_states)
        render_patrol_maps(run.layers, ["Z01"], tmp_path / "patrol", progress=False, as_of=run.as_of,
                           checklist=True, workers=1, states=run.case_states)
        alone = cases.case_states(run.layers.read("inspections"), run.as_of, run.layers.read("zones"))
    assert calls == [len(alone)] * 2      # once for the run, once for the reference just above
    # the shared states give the numbers each computes alone
    assert ledger.totals["overdue"] == int(alone["overdue"].sum())
    in_zones = alone[alone["zone_id"].isin(table["zone_id"])]
    assert int(table["cases_overdue"].sum()) == int(in_zones["overdue"].sum())


def test_case_states_of_other_cases_are_refused(demo_ws, tmp_path):
    from civgis.analysis.cases import case_states
    from civgis.analysis.ledger import build_ledger

    cases = demo_ws.read("inspections")
    states = case_states(cases.iloc[:10], DEMO_TODAY)
    with pytest.raises(ValueError, match="case_states"):
        build_ledger(cases, as_of=DEMO_TODAY, states=states)
    from civgis.render.printmaps import render_patrol_maps
    with pytest.raises(ValueError, match="case_states"):
        render_patrol_maps(demo_ws, ["Z01"], tmp_path, progress=False, as_of=DEMO_TODAY, states=states)


def test_background_sections_yield_the_cpu_to_the_report_process(three_zone_ws, tmp_path, monkeypatch,
                                                                 fork_allowed):
    """A background section runs BACKGROUND_NICENESS steps below this process (so the process with the
    most sections is not the last to finish); this process's own priority is left as it was."""
    import os

    import civgis.run.report as report
    from civgis.run.context import RunContext

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    monkeypatch.setattr("civgis.render.printmaps.render_patrol_maps",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError(f"nice {os.getpriority(os.PRIO_PROCESS, 0)}")))
    with RunContext(three_zone_ws, as_of=DEMO_TODAY) as run:
        output = report._Output(tmp_path / "bg", patrol_maps=True, progress=False)
        with _background(output, run, "patrol") as background:
            section = background.result("patrol", output)
    assert section["error"].startswith(f"nice {min(19, mine + report.BACKGROUND_NICENESS)}（")
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine


def test_hot_spots_are_forked_when_reached_at_this_process_s_priority_and_equal_those_built_inline(
        three_zone_ws, tmp_path, monkeypatch):
    """The hot spots (``Section.alongside``) are built in a process forked when the report reaches them, at
    the report's own priority, while it builds the sections after them; the report is the inline one."""
    import os

    import civgis.run.report as report

    def strip(value):   # timings (a section's, a solver's) and where a section was built
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("seconds", "waited_seconds", "background")}
        return [strip(v) for v in value] if isinstance(value, list) else value

    monkeypatch.setattr(report, "_fork_is_safe", lambda: False)
    inline = report.write_report(three_zone_ws, tmp_path / "inline", as_of=DEMO_TODAY, patrol_maps=False)
    monkeypatch.setattr(report, "_fork_is_safe", lambda: True)
    forked = report.write_report(three_zone_ws, tmp_path / "forked", as_of=DEMO_TODAY, patrol_maps=False)
    hot = forked.data["sections"]["hotspots"]
    assert hot["ok"] and hot["background"] and "background" not in inline.data["sections"]["hotspots"]
    assert not any(s.get("background") for k, s in forked.data["sections"].items() if k != "hotspots")
    assert strip(forked.data["sections"]) == strip(inline.data["sections"])
    assert sorted(p.relative_to(tmp_path / "forked") for p in forked.written) == \
        sorted(p.relative_to(tmp_path / "inline") for p in inline.written)

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    monkeypatch.setattr("civgis.run.hotspots.write_hotspots", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError(f"pid {os.getpid()} nice {os.getpriority(os.PRIO_PROCESS, 0)}")))
    failed = report.write_report(three_zone_ws, tmp_path / "failed", as_of=DEMO_TODAY, patrol_maps=False)
    error = failed.data["sections"]["hotspots"]["error"]
    assert error.startswith("pid ") and int(error.split()[1]) != os.getpid()
    assert error.split()[3].startswith(str(mine))   # not lowered as the patrol maps' process is


def test_charts_drawn_before_the_background_finishes_are_the_page_s_charts(three_zone_ws, tmp_path):
    """The report draws its charts while the background sections run; the page embeds those, and they are
    the charts ``render_html`` draws from the finished sections' data."""
    from civgis.render.report import CHART_SECTIONS, render_html, report_charts
    from civgis.run.report import write_report

    result = write_report(three_zone_ws, tmp_path / "r", as_of=DEMO_TODAY, patrol_maps=False)
    drawn_at_end = report_charts(result.data["sections"])
    assert set(drawn_at_end) == {"monthly", "indicators", "scorecard"} and set(CHART_SECTIONS) <= set(result.data["sections"])
    page = result.index.read_text(encoding="utf-8")
    for uri in drawn_at_end.values():
        assert uri in page
    assert render_html(result.data) == render_html(result.data, drawn_at_end)


def test_the_page_template_is_compiled_once_and_renders_what_a_fresh_compile_renders(three_zone_ws, tmp_path):
    """The report compiles its page template while the background runs (``report_template``, once a
    process); the page written is what a freshly compiled template renders from the same data."""
    from civgis.render import report as page
    from civgis.run.report import write_report

    page.report_template.cache_clear()
    result = write_report(three_zone_ws, tmp_path / "r", as_of=DEMO_TODAY, patrol_maps=False)
    info = page.report_template.cache_info()
    assert info.misses == 1 and info.currsize == 1
    compiled = page.report_template()
    page.report_template.cache_clear()
    fresh = page.report_template()
    assert fresh is not compiled
    written = result.index.read_text(encoding="utf-8")
    charts = page.report_charts(result.data["sections"])
    assert written == page.render_html(result.data, charts) and "<html" in written
