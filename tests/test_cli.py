"""Command-line conventions: --version, -q/-v, results on stdout and messages on stderr, bilingual
help on every argument, and one clear line (no traceback, exit 1) for every user error."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import types
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from civgis.cli import build_parser, main
from civgis.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")
X0, Y0 = 39_500_000.0, 3_500_000.0   # EPSG:4527 (CGCS2000 / 3-degree GK zone 39), near 117° E 31.6° N


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def cli_process(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "civgis", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture
def small_ws(tmp_path):
    ws = Workspace.create(tmp_path / "small.gpkg", crs=4527)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000)],
                                          crs=4527))
    ws.write("lamps", gpd.GeoDataFrame({"lamp_id": ["L1", "L2"], "status": ["working", "broken"]},
                                       geometry=[Point(X0 + 100, Y0 + 100), Point(X0 + 900, Y0 + 900)], crs=4527))
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "not_osm.osm.pbf").write_bytes(b"PK\x03\x04 this is a zip, not OpenStreetMap")
    return ws


def test_version_is_the_installed_distribution(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"civgis {version('civgis')}"


def test_every_command_and_argument_has_bilingual_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for choice in sub._choices_actions:
        if not (CJK.search(choice.help or "") and re.search(r"[a-z]{3,}", choice.help or "")):
            missing.append((choice.dest, "(command)"))
    for name, command in sub.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = re.sub(r"--?[\w-]+|\b[A-Z_]{2,}\b", "", action.help or "")   # option names are not English
            if not (CJK.search(text) and re.search(r"\b[a-z]{3,}\b", text)):
                missing.append((name, action.dest))
    assert missing == []


def test_results_on_stdout_messages_on_stderr(small_ws, tmp_path):
    r = cli("layers", small_ws.path, "--json")
    assert r.returncode == 0 and r.stderr == "" and '"layer": "lamps"' in r.stdout
    r = cli("export", small_ws.path, "lamps", tmp_path / "lamps.geojson")
    assert r.returncode == 0 and r.stdout == "" and "lamps.geojson" in r.stderr
    r = cli("init", tmp_path / "new.gpkg", "--crs", "EPSG:4527")
    assert r.returncode == 0 and r.stdout == "" and "new.gpkg" in r.stderr


def test_quiet_silences_messages_before_or_after_the_command(small_ws, tmp_path, monkeypatch):
    monkeypatch.setenv("CIVGIS_PROGRESS", "0")
    for args in (["-q", "export", small_ws.path, "lamps", tmp_path / "a.geojson"],
                 ["export", small_ws.path, "lamps", tmp_path / "b.geojson", "--quiet"]):
        r = cli(*args)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert (tmp_path / "a.geojson").exists() and (tmp_path / "b.geojson").exists()


def test_verbose_adds_details_on_stderr(small_ws):
    quiet = cli("layers", small_ws.path)
    r = cli("-v", "layers", small_ws.path)
    assert r.returncode == 0 and r.stdout == quiet.stdout and "lamps" in r.stdout
    assert "took" in r.stderr and "took" not in quiet.stderr


def test_verbose_logs_civgis_at_info_and_libraries_only_their_warnings():
    """-v turns civgis's log on, not every library's: fontTools would print each font subset's glyph lists."""
    code = ("import logging; from civgis.cli._common import set_verbosity; set_verbosity(verbose=True); "
            "logging.getLogger('fontTools.subset').info('GLYPHS'); logging.getLogger('fontTools.subset').warning('WARN');"
            "logging.getLogger('civgis.run').info('CIVGIS')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "CIVGIS" in r.stderr and "WARN" in r.stderr and "GLYPHS" not in r.stderr


USER_ERRORS = {
    "import-osm of a non-OSM file": (["import-osm", "{tmp}/new.gpkg", "{tmp}/not_osm.osm.pbf"], "not_osm.osm.pbf"),
    "export of a missing raster": (["export", "{ws}", "canopy", "{tmp}/canopy.tif"], "canopy"),
    "export to an unwritable place": (["export", "{ws}", "lamps", "{tmp}/a_file/lamps.gpkg"], "a_file"),
    "export to an unknown format": (["export", "{ws}", "lamps", "{tmp}/lamps.xyz"], ".xyz"),
    "hotspots --out under a file": (["hotspots", "{ws}", "--out", "{tmp}/a_file/hot"], "a_file"),
    "webmap --out under a file": (["webmap", "{ws}", "--out", "{tmp}/a_file/maps"], "a_file"),
    "report --out under a file": (["report", "{ws}", "--out", "{tmp}/a_file/report"], "a_file"),
    "ledger --xlsx under a file": (["ledger", "{ws}", "--xlsx", "{tmp}/a_file/ledger.xlsx"], "a_file"),
    "indicators --xlsx under a file": (["indicators", "{ws}", "--xlsx", "{tmp}/a_file/i.xlsx"], "a_file"),
    "ledger without cases": (["ledger", "{ws}"], "inspections"),
    "a workspace that is not a GeoPackage": (["layers", "{tmp}/a_file"], "a_file"),
    "a workspace that does not exist": (["layers", "{tmp}/nowhere.gpkg"], "nowhere.gpkg"),
    "import of a missing file": (["import", "{ws}", "lamps", "{tmp}/missing.csv"], "missing.csv"),
    "import into an unknown layer": (["import", "{ws}", "trees", "{tmp}/a_file"], "trees"),
}


@pytest.mark.parametrize("case", list(USER_ERRORS), ids=list(USER_ERRORS))
def test_user_errors_end_in_one_clear_line(case, small_ws, tmp_path):
    args, named = USER_ERRORS[case]
    args = [a.format(ws=small_ws.path, tmp=tmp_path) for a in args]
    before = small_ws.path.read_bytes()
    r = cli(*args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("错误 error: ") and named in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert small_ws.path.read_bytes() == before          # nothing stored changes on failure


def test_no_traceback_in_a_real_process_and_debug_shows_it(small_ws, tmp_path):
    r = cli_process("export", small_ws.path, "canopy", tmp_path / "c.tif")
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.startswith("错误 error: ")
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli_process("--debug", "export", small_ws.path, "canopy", tmp_path / "c.tif")
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr and "canopy" in r.stderr


ENTRY = """
import atexit, sys, threading, time
import civgis.cli as cli

class Finalised:
    def __del__(self):
        sys.stdout.write("torn down\\n")

kept = Finalised()
atexit.register(lambda: sys.stdout.write("exit handlers ran\\n"))
if sys.argv[1] == "thread":   # a thread still writing when the command returns
    marker = sys.argv[2]
    threading.Thread(target=lambda: (time.sleep(0.3), open(marker, "w").write("done"))).start()
sys.argv = ["civgis", *sys.argv[3:]]
cli.entry()
"""


def test_the_command_exits_without_tearing_down_but_after_exit_handlers_and_threads(small_ws, tmp_path):
    """``civgis.cli.entry`` (the console script, ``python -m civgis``) ends with os._exit once main has
    returned: the exit handlers run, the streams are flushed (a JSON of every lamp arrives whole),
    the status is main's, the interpreter's teardown (a module global's finaliser) is skipped. With
    another thread alive it exits as usual and the thread finishes its work."""
    script = tmp_path / "entry.py"
    script.write_text(ENTRY, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = lambda *args: subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True,
                                       env=env, timeout=300)
    r = run("-", "-", "indicators", small_ws.path, "--json", "-")
    assert r.returncode == 0, r.stderr
    body, _, tail = r.stdout.rpartition("]")
    rows = {row["indicator"]: row for row in json.loads(body + "]") if row["scope"] == "city"}
    assert rows["lamp_count"]["value"] == 2   # both lamps in the built-up square
    assert tail.strip() == "exit handlers ran" and "torn down" not in r.stdout
    r = run("-", "-", "export", small_ws.path, "canopy", tmp_path / "c.tif")
    assert r.returncode == 1 and r.stderr.startswith("错误 error: ") and "torn down" not in r.stdout
    assert r.stdout.strip() == "exit handlers ran"
    marker = tmp_path / "thread.txt"
    r = run("thread", marker, "layers", small_ws.path)
    assert r.returncode == 0 and marker.read_text() == "done"
    r = cli_process("layers", small_ws.path)   # python -m civgis goes through entry too
    assert r.returncode == 0 and "lamps" in r.stdout
    r = subprocess.run([sys.executable, "-m", "cProfile", "-m", "civgis", "layers", small_ws.path],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "function calls" in r.stdout   # under a profiler: exits as usual, stats printed


def test_wrong_command_line_is_exit_2_on_stderr():
    r = cli_process("layers")
    assert r.returncode == 2 and r.stdout == "" and "workspace" in r.stderr
    r = cli_process()
    assert r.returncode == 2 and r.stdout == "" and "COMMAND" in r.stderr


def test_progress_bars_only_on_a_terminal(small_ws, tmp_path):
    """Not a terminal (a pipe): no carriage returns on stderr even when a command reports progress."""
    zones = gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["一区"], "unit": ["一中队"], "staff": ["张三"],
                              "phone": ["123"]}, geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=4527)
    small_ws.write("zones", zones)
    env = {k: v for k, v in os.environ.items() if k != "CIVGIS_PROGRESS"}
    r = subprocess.run([sys.executable, "-m", "civgis", "maps", str(small_ws.path), "--all", "--format", "png",
                        "--dpi", "40", "--out", str(tmp_path / "maps")], capture_output=True, text=True,
                       env={**env, "PYTHONPATH": str(REPO)}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "Z1" in r.stdout     # the written file on stdout, no bar on stderr
