"""Faults: a failed or interrupted write changes nothing, and every bad file ends in one clear line.

Read-only file and folder (as a non-root user: root ignores permissions), a workspace reached
through a symlink, two concurrent ``--append`` of the same ids, ``kill -9`` at random moments of an
import, a full disk (simulated ENOSPC), a held lock, stale staging copies, and a catalogue of
truncated or corrupt inputs of every format through ``civgis import``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from civgis.store import workspace as workspace_module
from civgis.store.importers import import_frame
from civgis.store.validate import ValidationError
from civgis.store.workspace import LockHeldError, Workspace, WorkspaceError
from users import as_user, open_folder, unprivileged_user

ROOT = Path(__file__).resolve().parent.parent
X0, Y0 = 39_500_000.0, 3_000_000.0  # CGCS2000 GK zone 39 (EPSG:4527) easting carries the zone


# ---------------------------------------------------------------------- helpers
def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def lamps(ids, dx=0.0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"lamp_id": list(ids), "status": ["working"] * len(ids)},
                            geometry=[Point(X0 + 10 * i + dx, Y0 + 5) for i in range(len(ids))], crs=4527)


def make_ws(folder: Path) -> Workspace:
    ws = Workspace.create(folder / "county.gpkg", crs=4527)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0 - 100, Y0 - 100, X0 + 5000, Y0 + 5000)],
                                          crs=4527))
    ws.write("lamps", lamps([f"L{i}" for i in range(10)]))
    return ws


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run_cli(*args, user: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "civgis", *map(str, args)]
    return subprocess.run(as_user(cmd) if user else cmd, capture_output=True, text=True, env=env(),
                          timeout=timeout, cwd="/")


@pytest.fixture
def shared_dir():
    """A folder the non-root test user can use (pytest's tmp_path is root-only 0700)."""
    with open_folder("civgis-faults-") as folder:
        yield folder


def give_to_user(*paths: Path) -> None:
    user = unprivileged_user()
    for path in paths:
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)


def lamps_csv(path: Path, ids) -> Path:
    pd.DataFrame({"lamp_id": list(ids), "status": ["正常"] * len(ids),
                  "x": [X0 + 10 * i for i in range(len(ids))], "y": [Y0 + 20] * len(ids)}).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------- permissions
def test_read_only_file_refused_and_kept_as_non_root(shared_dir):
    ws = make_ws(shared_dir)
    give_to_user(shared_dir, ws.path)
    os.chmod(ws.path, 0o444)
    before = sha(ws.path)
    src = lamps_csv(shared_dir / "new.csv", ["N1", "N2"])
    os.chmod(src, 0o644)
    res = run_cli("import", ws.path, "lamps", src, "--crs", "EPSG:4527", user=True)
    assert res.returncode == 1, res.stderr
    assert "只读" in res.stderr and "Traceback" not in res.stderr
    assert sha(ws.path) == before                                   # 9 of 10 layers were lost before
    assert sorted(p.name for p in shared_dir.iterdir()) == [".county.gpkg.lock", "county.gpkg", "new.csv"]


def test_read_only_folder_refused_and_kept_as_non_root(shared_dir):
    ws = make_ws(shared_dir)
    give_to_user(shared_dir, ws.path)
    src = lamps_csv(Path(tempfile.mkdtemp(dir="/tmp")) / "new.csv", ["N1"])
    os.chmod(src.parent, 0o755)
    os.chmod(src, 0o644)
    before = sha(ws.path)
    os.chmod(shared_dir, 0o555)
    try:
        res = run_cli("import", ws.path, "lamps", src, "--crs", "EPSG:4527", user=True)
    finally:
        os.chmod(shared_dir, 0o755)
        shutil.rmtree(src.parent)
    assert res.returncode == 1 and "文件夹只读" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sha(ws.path) == before


def test_read_only_refused_before_the_lock_in_process(tmp_path, monkeypatch):
    ws = make_ws(tmp_path)
    monkeypatch.setattr(workspace_module.os, "access", lambda path, mode: False)
    with pytest.raises(WorkspaceError, match="只读"):
        ws.write("lamps", lamps(["X"]))
    monkeypatch.undo()
    assert ws.read("lamps")["lamp_id"].tolist() == [f"L{i}" for i in range(10)]


# ---------------------------------------------------------------------- symlink
def test_symlinked_workspace_writes_through_to_the_shared_target(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    ws = make_ws(shared)
    link = tmp_path / "mine.gpkg"
    link.symlink_to(ws.path)
    Workspace(link).write("lamps", lamps(["S1", "S2", "S3"]))
    assert link.is_symlink() and Path(os.readlink(link)) == ws.path
    assert Workspace(ws.path).read("lamps")["lamp_id"].tolist() == ["S1", "S2", "S3"]
    assert not list(tmp_path.glob(".mine*")) and not list(shared.glob("*.tmp.gpkg"))


# ---------------------------------------------------------------------- concurrency and locks
APPEND_CHILD = textwrap.dedent("""
    import sys, time
    import geopandas as gpd
    from shapely.geometry import Point
    from civgis.store.importers import import_frame
    from civgis.store.validate import ValidationError
    from civgis.store.workspace import Workspace
    ws = Workspace(sys.argv[1])
    gdf = gpd.GeoDataFrame({"lamp_id": ["D1", "D2", "D3"], "status": ["working"] * 3},
                           geometry=[Point(39500000 + i, 3000010) for i in range(3)], crs=4527)
    while time.time() < float(sys.argv[2]):
        time.sleep(0.001)
    try:
        import_frame(ws, "lamps", gdf, append=True)
        print("stored")
    except ValidationError as exc:
        print("refused", exc.problems[0].code)
""")


def test_two_concurrent_appends_of_the_same_ids_store_them_once(tmp_path):
    ws = make_ws(tmp_path)
    script = tmp_path / "append.py"
    script.write_text(APPEND_CHILD)
    for attempt in range(3):
        start = time.time() + 6  # both children have imported geopandas by then and start together
        procs = [subprocess.Popen([sys.executable, str(script), str(ws.path), str(start)], env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        said = sorted(o[0].strip() for o in outs)
        ids = ws.read("lamps")["lamp_id"].tolist()
        if attempt == 0:
            assert said == ["refused duplicate_id", "stored"], outs
        else:
            assert said == ["refused duplicate_id", "refused duplicate_id"], outs
        assert sorted(ids) == sorted([f"L{i}" for i in range(10)] + ["D1", "D2", "D3"])


def test_duplicate_check_is_repeated_under_the_lock(tmp_path):
    """The ids read before the lock are stale when another append lands in between."""
    ws = make_ws(tmp_path)
    real_check = import_frame.__globals__["check"]

    def check_then_someone_appends(*args, **kwargs):
        result = real_check(*args, **kwargs)
        ws.write("lamps", lamps(["D1"]), append=True)  # the other writer, between check and write
        return result

    import_frame.__globals__["check"] = check_then_someone_appends
    try:
        with pytest.raises(ValidationError, match="already stored"):
            import_frame(ws, "lamps", lamps(["D1"]), append=True)
    finally:
        import_frame.__globals__["check"] = real_check
    assert ws.read("lamps")["lamp_id"].tolist().count("D1") == 1


def test_held_lock_waits_with_a_message_then_refuses(tmp_path, capsys):
    ws = make_ws(tmp_path)
    before = sha(ws.path)
    with open(tmp_path / ".county.gpkg.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242")
        held.flush()
        t0 = time.monotonic()
        with pytest.raises(LockHeldError, match="4242"):
            _write_with_wait(ws, 0.6)
        waited = time.monotonic() - t0
        assert 0.6 <= waited < 5
        assert "等待" in capsys.readouterr().err
        res = run_cli("--wait", "0.5", "import", ws.path, "lamps", lamps_csv(tmp_path / "n.csv", ["N"]),
                      "--crs", "EPSG:4527")
        assert res.returncode == 1 and "锁定" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sha(ws.path) == before
    ws.write("lamps", lamps(["after"]))  # released: the next writer goes through
    assert ws.read("lamps")["lamp_id"].tolist() == ["after"]


def _write_with_wait(ws: Workspace, wait: float) -> None:
    with ws.transaction(wait=wait):
        raise AssertionError("the lock was held: the transaction must not start")


def test_stale_staging_copies_are_cleaned_under_the_lock(tmp_path):
    ws = make_ws(tmp_path)
    stale = tmp_path / f".county.{'ab' * 16}.tmp.gpkg"
    shutil.copy(ws.path, stale)
    other = tmp_path / f".other.{'cd' * 16}.tmp.gpkg"   # another workspace's staging: not ours to remove
    shutil.copy(ws.path, other)
    ws.write("lamps", lamps(["X"]))
    assert not stale.exists() and other.exists()


# ---------------------------------------------------------------------- disk full
def test_disk_full_is_one_clear_error_and_changes_nothing(tmp_path, monkeypatch):
    ws = make_ws(tmp_path)
    before = sha(ws.path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(workspace_module.shutil, "copy2", full)
    with pytest.raises(WorkspaceError, match="磁盘空间不足"):
        ws.write("lamps", lamps(["X"]))
    monkeypatch.undo()
    assert sha(ws.path) == before and not list(tmp_path.glob("*.tmp.gpkg"))


def test_disk_full_while_writing_the_staged_copy(tmp_path, monkeypatch):
    ws = make_ws(tmp_path)
    before = sha(ws.path)
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(workspace_module.os, "fsync", full)
    with pytest.raises(WorkspaceError, match="磁盘空间不足"):
        ws.write("lamps", lamps(["X"]))
    monkeypatch.setattr(workspace_module.os, "fsync", real_fsync)
    assert sha(ws.path) == before and not list(tmp_path.glob("*.tmp.gpkg"))


# ---------------------------------------------------------------------- kill -9
KILL_CHILD = textwrap.dedent("""
    import sys
    import geopandas as gpd
    from shapely.geometry import Point
    from civgis.store.importers import import_frame
    from civgis.store.workspace import Workspace
    ws = Workspace(sys.argv[1])
    gdf = gpd.GeoDataFrame({"lamp_id": [f"K{i}" for i in range(3000)], "status": ["working"] * 3000},
                           geometry=[Point(39500000 + i, 3000010) for i in range(3000)], crs=4527)
    print("ready", flush=True)
    import_frame(ws, "lamps", gdf)
    print("done", flush=True)
""")


def test_kill_9_at_random_moments_leaves_before_or_after(tmp_path):
    ws = make_ws(tmp_path)
    pristine = tmp_path / "pristine.gpkg"
    shutil.copy(ws.path, pristine)
    script = tmp_path / "kill.py"
    script.write_text(KILL_CHILD)
    before_ids = [f"L{i}" for i in range(10)]
    after_ids = [f"K{i}" for i in range(3000)]
    rng = random.Random(12)
    outcomes = {"before": 0, "after": 0}
    for _ in range(20):
        shutil.copy(pristine, ws.path)
        proc = subprocess.Popen([sys.executable, str(script), str(ws.path)], env=env(), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        stored = Workspace(ws.path)
        assert set(stored.layers()) == {"built_up", "lamps"}
        ids = stored.read("lamps")["lamp_id"].tolist()
        assert ids in (before_ids, after_ids)
        outcomes["before" if ids == before_ids else "after"] += 1
    assert outcomes["before"] >= 1, outcomes  # the kills did land during the import
    stored.write("built_up", stored.read("built_up"))
    assert not list(tmp_path.glob(".county.*.tmp.gpkg"))  # a later writer removed the killed writer's copies


# ---------------------------------------------------------------------- bad files, one line each
def _bad_inputs(folder: Path) -> dict[str, tuple[str, Path]]:
    """name → (layer, file) of the catalogue of bad inputs."""
    good = gpd.GeoDataFrame({"lamp_id": [f"G{i}" for i in range(20)], "status": ["working"] * 20},
                            geometry=[Point(110.0 + 0.001 * i, 27.1) for i in range(20)], crs=4326)
    files: dict[str, tuple[str, Path]] = {}

    def put(name, layer, suffix, data: bytes):
        path = folder / f"{name}{suffix}"
        path.write_bytes(data)
        files[name] = (layer, path)

    good.to_file(folder / "ok.gpkg")
    good.to_file(folder / "ok.geojson")
    good.to_file(folder / "ok.fgb")
    good.to_file(folder / "ok.shp")
    full_gpkg = (folder / "ok.gpkg").read_bytes()
    put("gpkg_truncated", "lamps", ".gpkg", full_gpkg[: len(full_gpkg) // 3])
    put("gpkg_garbage", "lamps", ".gpkg", b"\x00" * 4096)
    put("gpkg_empty", "lamps", ".gpkg", b"")
    gj = (folder / "ok.geojson").read_bytes()
    put("geojson_truncated", "lamps", ".geojson", gj[: len(gj) // 2])
    put("geojson_not_json", "lamps", ".geojson", "这不是 JSON {".encode())
    fgb = (folder / "ok.fgb").read_bytes()
    put("fgb_truncated", "lamps", ".fgb", fgb[: len(fgb) // 2])
    shp = (folder / "ok.shp").read_bytes()
    put("shp_truncated", "lamps", ".shp", shp[:150])
    for ext in (".dbf", ".shx", ".prj"):
        shutil.copy(folder / f"ok{ext}", folder / f"shp_truncated{ext}")
    shutil.copy(folder / "ok.shp", folder / "shp_no_dbf.shp")
    files["shp_no_dbf"] = ("lamps", folder / "shp_no_dbf.shp")
    put("kml_broken", "lamps", ".kml", b"<kml><Document><Placemark><Point><coordinates>1,2")
    put("csv_binary", "lamps", ".csv", bytes(range(256)) * 8)
    put("csv_empty", "lamps", ".csv", b"")
    put("csv_header_only", "lamps", ".csv", b"lamp_id,status,lon,lat\n")
    put("csv_nul_in_name", "toilets", ".csv",
        "toilet_id,name,lon,lat\nT1,公厕\x00北,110.0,27.1\n".encode())
    put("csv_ambiguous_date", "inspections", ".csv",
        "case_id,category,reported_at,deadline,status,lon,lat\nC1,0102,26-03-01,2026-03-02,open,110.0,27.1\n".encode())
    put("csv_population_1e30", "residential", ".csv", b"res_id,population,lon,lat\nR1,1e30,110.0,27.1\n")
    put("csv_coordinates_text", "lamps", ".csv", "lamp_id,status,lon,lat\nL1,正常,东经110度,27.1\n".encode())
    put("csv_closed_before_reported", "inspections", ".csv",
        b"case_id,category,reported_at,deadline,closed_at,status,lon,lat\n"
        b"C1,0102,2026-03-02,2026-03-03,2026-03-01,closed,110.0,27.1\n")
    put("csv_year_2099", "inspections", ".csv",
        b"case_id,category,reported_at,deadline,status,lon,lat\nC1,0102,2099-03-02,2099-03-03,open,110.0,27.1\n")
    put("csv_open_with_closed_at", "inspections", ".csv",
        b"case_id,category,reported_at,deadline,closed_at,status,lon,lat\n"
        b"C1,0102,2026-03-02,2026-03-03,2026-03-02,open,110.0,27.1\n")
    put("xlsx_truncated", "lamps", ".xlsx", _xlsx_bytes()[:300])
    put("xlsx_not_zip", "lamps", ".xlsx", b"PK\x03\x04 not really a zip")
    put("tif_truncated", "canopy", ".tif", b"II*\x00" + b"\x00" * 100)
    put("unknown_suffix", "lamps", ".dwg", b"AC1027")
    return files


def _xlsx_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    pd.DataFrame({"lamp_id": ["L1"], "status": ["正常"], "lon": [110.0], "lat": [27.1]}).to_excel(buf, index=False)
    return buf.getvalue()


def test_every_bad_file_is_refused_in_one_line_naming_it(tmp_path):
    ws = make_ws(tmp_path)
    before = sha(ws.path)
    folder = tmp_path / "bad"
    folder.mkdir()
    tally = {"refused clearly": [], "unclear": [], "traceback": [], "accepted": []}
    for name, (layer, path) in _bad_inputs(folder).items():
        res = run_cli("import", ws.path, layer, path, timeout=120)
        if res.returncode == 0:
            tally["accepted"].append(name)
        elif "Traceback" in res.stderr or not res.stderr.startswith("错误"):
            tally["traceback"].append((name, res.stderr[-300:]))
        elif path.name in res.stderr or "要素" in res.stderr:  # the file, or the feature of the layer
            tally["refused clearly"].append(name)
        else:
            tally["unclear"].append((name, res.stderr))
    print({k: len(v) for k, v in tally.items()})
    assert tally["traceback"] == tally["accepted"] == tally["unclear"] == [], tally
    assert len(tally["refused clearly"]) == len(_bad_inputs(folder))
    assert sha(ws.path) == before


def test_debug_shows_the_traceback(tmp_path):
    ws = make_ws(tmp_path)
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"\x00" * 4096)
    quiet = run_cli("import", ws.path, "lamps", bad)
    loud = run_cli("import", ws.path, "lamps", bad, "--debug")
    assert quiet.returncode == loud.returncode == 1
    assert "Traceback" not in quiet.stderr and len(quiet.stderr.strip().splitlines()) == 1
    assert "Traceback" in loud.stderr and "bad.gpkg" in loud.stderr


# ---------------------------------------------------------------------- values kept as given
def test_xlsx_text_ids_and_codes_keep_their_leading_zeros(tmp_path):
    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    src = tmp_path / "cases.xlsx"
    pd.DataFrame({"case_id": ["000123", "000124"], "category": ["0102", "0201"],
                  "reported_at": ["2026-03-01 08:00", "2026-03-02"], "deadline": ["2026-03-03", "2026-03-04"],
                  "status": ["open", "open"], "lon": [117.0, 117.001], "lat": [27.1, 27.1]}).to_excel(src, index=False)
    from civgis.store.importers import import_file

    import_file(ws, "inspections", src)
    stored = ws.read("inspections")
    assert stored["case_id"].tolist() == ["000123", "000124"]
    assert stored["category"].tolist() == ["0102", "0201"]
    assert stored["reported_at"].tolist() == [pd.Timestamp("2026-03-01 08:00"), pd.Timestamp("2026-03-02")]


def _problems(layer: str, **columns) -> list[tuple[str, str]]:
    from civgis.store.validate import check

    n = len(next(iter(columns.values())))
    gdf = gpd.GeoDataFrame(columns, geometry=[Point(110.0 + 0.001 * i, 27.1) for i in range(n)], crs=4326)
    _, problems, _ = check(gdf, layer, as_of=pd.Timestamp("2026-06-01"))
    return sorted({(p.code, p.field) for p in problems if p.severity == "error"})


def test_ambiguous_dates_are_refused_with_the_accepted_formats():
    case = dict(case_id=["C1", "C2", "C3", "C4"], category=["0102"] * 4, status=["open"] * 4,
                deadline=["2026-05-30"] * 4)
    assert _problems("inspections", reported_at=["26-03-01", "03/01/26", "2026-03-01", "2026年3月1日 08:30"],
                     **case) == [("bad_date", "reported_at")]
    from civgis.store.validate import conform

    gdf = gpd.GeoDataFrame({"reported_at": ["26-03-01", "2026年3月1日 08:30"]}, geometry=[Point(0, 0)] * 2, crs=4326)
    conformed, problems = conform(gdf, "inspections")
    assert [p.feature for p in problems] == ["第1行"] and "YYYY-MM-DD" in problems[0].hint
    assert conformed["reported_at"].tolist()[1] == pd.Timestamp("2026-03-01 08:30")


def test_control_characters_and_unusable_numbers_are_refused():
    assert _problems("toilets", toilet_id=["T1", "T2"], name=["公厕\x00北", "多行\n地址"]) == [
        ("control_character", "name")]
    assert _problems("toilets", toilet_id=["T1", "T2", "T3"], name=[None, np.nan, "北\x1f门"]) == [
        ("control_character", "name")]   # found past the missing values
    assert _problems("toilets", toilet_id=["T1", "T2"], name=pd.array([None, "东\t门\r\n"], dtype="string")) == []
    from civgis.store.validate import _has_control_character

    for values, expected in ((["a\x7f"], True), (["a", None, "b"], False), ([None, pd.NA, 3, "\x00"], True),
                             (["\t\n\r", "路"], False), ([], False)):
        assert _has_control_character(pd.Series(values, dtype=object)) is expected, values
    found = _problems("residential", res_id=["R1", "R2", "R3"], population=["1e30", "inf", "1200"])
    assert [p for p in found if p[1] == "population"] == [("out_of_range", "population")]


def test_case_life_cycle_is_checked():
    rows = dict(case_id=["ok", "closed_early", "deadline_early", "closed_no_date", "open_closed", "future"],
                category=["0102"] * 6,
                reported_at=["2026-03-02", "2026-03-02", "2026-03-02", "2026-03-02", "2026-03-02", "2099-03-02"],
                deadline=["2026-03-03", "2026-03-03", "2026-03-01", "2026-03-03", "2026-03-03", "2099-03-03"],
                closed_at=["2026-03-02 18:00", "2026-03-01", None, None, "2026-03-02", None],
                status=["closed", "closed", "open", "closed", "open", "open"])
    from civgis.store.validate import check

    gdf = gpd.GeoDataFrame(rows, geometry=[Point(110.0, 27.1)] * 6, crs=4326)
    _, problems, _ = check(gdf, "inspections", as_of=pd.Timestamp("2026-06-01"))
    found = sorted((p.feature, p.code) for p in problems if p.severity == "error")
    assert found == [("closed_early", "closed_before_reported"), ("closed_no_date", "closed_without_time"),
                     ("deadline_early", "deadline_before_reported"), ("future", "date_in_future"),
                     ("open_closed", "open_with_close_time")]


def test_demo_refuses_a_folder_holding_someone_elses_workspace(tmp_path):
    ws = make_ws(tmp_path)
    before = sha(ws.path)
    res = run_cli("demo", "--out", tmp_path, "--no-patrol-maps")
    assert res.returncode == 1 and "不是演示生成" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sha(ws.path) == before and not (tmp_path / "raw").exists()


def test_demo_recognises_its_own_workspace(demo_ws, tmp_path):
    from civgis.cli.report import made_by_demo

    assert made_by_demo(demo_ws.path, demo_ws.path.parent)
    assert not made_by_demo(make_ws(tmp_path).path, tmp_path)


# ---------------------------------------------------------------------- import-osm
from test_osm import pbf  # noqa: E402,F401 — the hand-built extract fixture


def test_truncated_pbf_is_refused_before_anything_is_written(pbf, tmp_path):
    from civgis.store.osm import import_osm

    data = pbf.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 10):
        bad = tmp_path / f"cut{cut}.osm.pbf"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated or corrupt"):
            import_osm(tmp_path / "w.gpkg", bad)
    res = run_cli("import-osm", tmp_path / "cli.gpkg", tmp_path / f"cut{len(data) // 2}.osm.pbf")
    assert res.returncode == 1 and "不完整" in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_import_osm_asks_before_replacing_a_layer_with_data(pbf, tmp_path):
    from civgis.store.osm import import_osm

    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    curated = lamps(["CUR1", "CUR2"]).assign(status=["broken", "working"])
    from test_osm import X0 as OSM_X0, Y0 as OSM_Y0

    curated = curated.set_geometry(gpd.points_from_xy([39_000_000 + OSM_X0] * 2, [OSM_Y0, OSM_Y0 + 10]), crs=4527)
    ws.write("lamps", curated)
    before = sha(ws.path)
    with pytest.raises(WorkspaceError, match="--replace lamps"):
        import_osm(ws, pbf)
    assert sha(ws.path) == before
    import_osm(ws, pbf, replace=["lamps"])
    assert "CUR1" not in ws.read("lamps")["lamp_id"].tolist() and ws.has("roads")


def test_import_osm_is_one_transaction(pbf, tmp_path, monkeypatch):
    from civgis.store import osm

    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    before = sha(ws.path)
    real = osm.import_frame

    def fail_on_lamps(ws_, name, gdf, **kwargs):
        if name == "lamps":
            raise ValidationError([])
        return real(ws_, name, gdf, **kwargs)

    monkeypatch.setattr(osm, "import_frame", fail_on_lamps)
    with pytest.raises(ValidationError):
        osm.import_osm(ws, pbf)
    assert sha(ws.path) == before and Workspace(ws.path).layers() == []  # roads and green were not kept
    monkeypatch.undo()
    result = osm.import_osm(ws, pbf)
    assert set(ws.layers()) == {"roads", "green", "lamps", "toilets"}
    assert [e["layer"] for e in ws.log()] == ["roads", "green", "lamps", "toilets"]  # one commit, every entry
    assert result.crs == "EPSG:4527"
