"""The bureau's own files (issue 13): encodings, ledger-shaped sheets, its vocabulary, its coordinates.

Every file is built here the way the bureau's software makes it, and what is stored is checked
value by value against numbers worked out independently (by hand, or with pyproj).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from civgis.cli import main
from civgis.store import coords
from civgis.store.catalogue import layer_spec, load_vocabulary, workspace_vocabulary_path
from civgis.store.encodings import EncodingUnsure, guess_encoding
from civgis.store.importers import export_layer, import_file
from civgis.store.validate import ValidationError, validate_workspace
from civgis.store.workspace import Workspace

LON0, LAT0 = 116.90, 33.30  # a county seat in CGCS2000 3° zone 39 (CM 117°E, EPSG:4527)


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "county.gpkg")


def _gbk_shapefile_without_cpg(path, gdf):
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert "人民路".encode("gbk") in path.with_suffix(".dbf").read_bytes()  # really GBK
    return path


# ---------------------------------------------------------------- 1. encodings
def test_gbk_shapefile_without_cpg_is_sniffed(ws, tmp_path):
    roads = gpd.GeoDataFrame(
        {"道路编号": ["R1", "R2", "R3"], "道路名称": ["人民路", "解放街", "文明巷"],
         "道路等级": ["主干道", "次干道", "背街小巷"], "路宽": [40.0, 24.0, 4.5], "机扫": ["是", "否", "否"]},
        geometry=[LineString([(LON0, LAT0), (LON0 + 0.01, LAT0)]), LineString([(LON0, LAT0), (LON0, LAT0 + 0.01)]),
                  LineString([(LON0 + 0.002, LAT0), (LON0 + 0.002, LAT0 + 0.003)])], crs=4326)
    src = _gbk_shapefile_without_cpg(tmp_path / "道路.shp", roads)
    report = import_file(ws, "roads", src)  # no --encoding
    stored = ws.read("roads").sort_values("road_id")
    assert stored["road_id"].tolist() == ["R1", "R2", "R3"]
    assert stored["name"].tolist() == ["人民路", "解放街", "文明巷"]
    assert stored["road_class"].tolist() == ["arterial", "secondary", "alley"]
    assert stored["width_m"].tolist() == [40.0, 24.0, 4.5]
    assert stored["mech_swept"].tolist() == [True, False, False]
    assert report.encoding.startswith("gbk") and "无 .cpg" in report.encoding
    assert "编码 encoding: gbk" in str(report)


def test_utf8_shapefile_without_cpg_stays_utf8(ws, tmp_path):
    src = tmp_path / "t.shp"
    # (field names ≤ 10 bytes: a longer UTF-8 name is cut inside a character, which pyogrio cannot read back)
    pyogrio.write_dataframe(gpd.GeoDataFrame({"编号": ["T1"], "名称": ["人民公园公厕"]},
                                             geometry=[Point(LON0, LAT0)], crs=4326), src, encoding="UTF-8")
    src.with_suffix(".cpg").unlink(missing_ok=True)
    report = import_file(ws, "toilets", src)
    assert ws.read("toilets")["name"].tolist() == ["人民公园公厕"]
    assert report.encoding.startswith("utf-8")


def test_unsure_encoding_is_refused_with_the_option_to_give(ws, tmp_path):
    src = tmp_path / "lamps.csv"
    src.write_bytes("lamp_id,lon,lat,status\nL1,116.9,33.3,城關鎮東門大街故障\n".encode("big5"))
    before = ws.path.read_bytes()
    with pytest.raises(ValidationError) as err:
        import_file(ws, "lamps", src)
    (problem,) = err.value.problems
    assert problem.code == "unknown_encoding" and "--encoding gbk" in problem.hint
    assert ws.path.read_bytes() == before
    # the trial itself, on bytes: GBK and UTF-8 decided, Big5 and Shift-JIS refused
    assert guess_encoding("人民路（东段）北街１号".encode("gbk")).encoding == "gbk"
    assert guess_encoding("人民路（东段）".encode("utf-8")).encoding == "utf-8"
    for enc, text in (("big5", "城關鎮東門大街文明路幸福小區"), ("shift_jis", "東京都渋谷区道玄坂")):
        with pytest.raises(EncodingUnsure):
            guess_encoding(text.encode(enc))


def test_gbk_csv_with_long_ids(ws, tmp_path):
    ids = [f"341321011801{i:04d}" for i in range(30)]  # 16-digit 部件编码 …0118… (street lamp)
    table = pd.DataFrame({"部件编号": ids, "经度": LON0 + np.arange(30) * 1e-4, "纬度": LAT0,
                          "状态": ["故障" if i % 10 == 3 else "正常" for i in range(30)]})
    src = tmp_path / "路灯台账.csv"
    body = table.to_csv(index=False, lineterminator="\r\n")
    # as Excel saves a ledger "CSV (逗号分隔)": GBK, a title line, the table, a totals line
    src.write_bytes(("××县城区路灯台账\r\n" + body + "合计,,,30盏\r\n").encode("gbk"))
    report = import_file(ws, "lamps", src)
    stored = ws.read("lamps").sort_values("lamp_id")
    assert stored["lamp_id"].tolist() == ids
    assert stored["status"].tolist() == ["broken" if i % 10 == 3 else "working" for i in range(30)]
    assert report.encoding.startswith("gbk")
    assert report.notes[:2] == ["表头在第 2 行，跳过其上 1 行标题", "删除表尾 1 行（合计、空行、备注）"]


# ---------------------------------------------------------------- 2. ledger-shaped sheets
def _toilet_ledger(path, *, totals=True):
    """××县城区公厕台账: merged title, a unit line, 位置 merged over 经度|纬度, a totals row and a note."""
    wb = openpyxl.Workbook()
    sh = wb.active
    sh.title = "公厕"
    sh.append(["××县城区公厕台账（2026年11月）"])
    sh.merge_cells("A1:E1")
    sh.append(["填报单位：城区环境卫生工作站", None, None, "日期：2026-11-30"])
    sh.append(["公厕编号", "公厕名称", "位置", None, "无障碍"])
    sh.append([None, None, "经度", "纬度", None])
    for rng in ("A3:A4", "B3:B4", "C3:D3", "E3:E4"):
        sh.merge_cells(rng)
    rows = [("GC-001", "人民公园公厕", LON0, LAT0, "是"), ("GC-002", "北街公厕", LON0 + 0.01, LAT0, "否"),
            ("GC-003", "汽车站公厕", LON0, LAT0 + 0.01, "是")]
    for r in rows:
        sh.append(list(r))
    sh.append([None] * 5)
    if totals:
        sh.append(["合计", "3座", None, None, "2座"])
    sh.append(["填表人：王某某"])
    wb.create_sheet("说明").append(["本表由城区环境卫生工作站维护"])
    wb.save(path)
    return rows


def test_xlsx_ledger_with_title_two_row_header_and_totals(ws, tmp_path):
    src = tmp_path / "公厕台账.xlsx"
    rows = _toilet_ledger(src)
    report = import_file(ws, "toilets", src)
    stored = ws.read("toilets").sort_values("toilet_id")
    assert stored["toilet_id"].tolist() == [r[0] for r in rows]
    assert stored["name"].tolist() == [r[1] for r in rows]
    assert stored["accessible"].tolist() == [True, False, True]
    expected = gpd.GeoSeries([Point(r[2], r[3]) for r in rows], crs=4326).to_crs(4527)
    assert np.allclose(stored.geometry.x, expected.x, atol=1e-3) and np.allclose(stored.geometry.y, expected.y, atol=1e-3)
    notes = "\n".join(report.notes)
    assert "第 3–4 行（两行表头已合并）" in notes and "跳过其上 2 行标题" in notes
    assert "删除表尾 3 行" in notes  # the blank row, 合计 and 填表人


def test_header_row_and_sheet_given(ws, tmp_path):
    src = tmp_path / "ledger.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["封面"])
    sh = wb.create_sheet("二季度")
    sh.append(["备注：单位 米", "内部资料"])  # looks like a header to the detection: hence --header-row
    sh.append(["编号", "名称", "经度", "纬度"])
    sh.append(["GC-9", "西门公厕", LON0, LAT0])
    wb.save(src)
    assert main(["import", str(ws.path), "toilets", str(src), "--sheet", "二季度", "--header-row", "2"]) == 0
    stored = ws.read("toilets")
    assert stored["toilet_id"].tolist() == ["GC-9"] and stored["name"].tolist() == ["西门公厕"]


# ---------------------------------------------------------------- 3. coordinates
def test_dms_columns_in_common_spellings(ws, tmp_path):
    # 116°55′20.78″ = 116 + 55/60 + 20.78/3600 = 116.922438…°, 33°18′7.2″ = 33.302°
    lon = 116 + 55 / 60 + 20.78 / 3600
    lat = 33 + 18 / 60 + 7.2 / 3600
    table = pd.DataFrame({"编号": ["D1", "D2", "D3", "D4"],
                          "经度": ["116°55′20.78″E", "116度55分20.78秒", "116:55:20.78", "E116°55'20.78\""],
                          "纬度": ["33°18′7.2″N", "33度18分7.2秒", "33:18:7.2", "N33°18'07.20\""],
                          "名称": ["甲", "乙", "丙", "丁"]})
    src = tmp_path / "dms.csv"
    table.to_csv(src, index=False, encoding="utf-8-sig")
    report = import_file(ws, "toilets", src)
    stored = ws.read("toilets")
    x, y = Transformer.from_crs(4326, 4527, always_xy=True).transform(lon, lat)
    assert np.allclose(stored.geometry.x, x, atol=1e-3) and np.allclose(stored.geometry.y, y, atol=1e-3)
    assert any("度分秒" in n for n in report.notes)
    assert np.allclose(coords.parse_angles(["116°55′20.78″W", "33°18′7.2″S"]), [-lon, -lat])


def test_prefixed_gauss_kruger_without_prj_is_zone_39(ws, tmp_path):
    table = pd.DataFrame({"编号": ["G1", "G2"], "X": [39_500_000.0, 39_512_345.6], "Y": [3_686_000.0, 3_690_000.0],
                          "名称": ["东", "西"]})
    src = tmp_path / "gk.csv"
    table.to_csv(src, index=False)
    report = import_file(ws, "toilets", src)
    assert ws.crs.to_epsg() == 4527
    stored = ws.read("toilets").sort_values("toilet_id")
    assert stored.geometry.x.tolist() == [39_500_000.0, 39_512_345.6]
    assert stored.geometry.y.tolist() == [3_686_000.0, 3_690_000.0]
    assert any("3° 分带第 39 带" in n and "EPSG:4527" in n for n in report.notes)
    # a shapefile without .prj, the same eastings
    shp = tmp_path / "gk.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"toilet_id": ["S1"]}, geometry=[Point(39_505_000.0, 3_687_000.0)]), shp)
    shp.with_suffix(".prj").unlink(missing_ok=True)
    import_file(ws, "toilets", shp)
    assert ws.read("toilets").geometry.iloc[0].coords[0] == (39_505_000.0, 3_687_000.0)


def test_six_degree_first_import_keeps_the_workspace_three_degree(ws, tmp_path):
    # 6° zone 20 (CM 117°E, EPSG:4498) eastings, zone prefix 20
    table = pd.DataFrame({"编号": ["S1"], "X": [20_490_000.0], "Y": [3_686_000.0]})
    src = tmp_path / "six.csv"
    table.to_csv(src, index=False)
    report = import_file(ws, "toilets", src)
    assert ws.crs.to_epsg() == 4527  # README: the CGCS2000 3-degree zone of the data
    x, y = Transformer.from_crs(4498, 4527, always_xy=True).transform(20_490_000.0, 3_686_000.0)
    got = ws.read("toilets").geometry.iloc[0]
    assert got.x == pytest.approx(x, abs=1e-3) and got.y == pytest.approx(y, abs=1e-3)
    assert (x - 39_000_000) == pytest.approx(20_490_000.0 - 20_000_000, abs=1e-3)  # same CM 117°E: same easting
    notes = "\n".join(report.notes)
    assert "6° 分带第 20 带" in notes and "工作空间按 3° 分带建立" in notes


def test_unprefixed_eastings_are_refused_with_the_crs_to_give(ws, tmp_path):
    src = tmp_path / "noprefix.csv"
    pd.DataFrame({"编号": ["N1"], "X": [500_000.0], "Y": [3_686_000.0]}).to_csv(src, index=False)
    with pytest.raises(ValidationError) as err:
        import_file(ws, "toilets", src)
    assert "--crs EPSG:4548" in err.value.problems[0].hint and "4490" not in err.value.problems[0].hint


# ---------------------------------------------------------------- 4. vocabulary
def _cases(n=1500, other="小广告张贴", n_other=1487):
    t0 = pd.Timestamp("2026-10-01 08:00")
    cats = [other] * n_other + ["乱张贴"] * 5 + ["暴露垃圾"] * (n - n_other - 5)
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "案卷号": [f"AJ{i:05d}" for i in range(n)], "问题类别": cats,
        "上报时间": [str(t0 + pd.Timedelta(hours=i)) for i in range(n)],
        "处置时限": [str(t0 + pd.Timedelta(hours=i + 48)) for i in range(n)],
        "案件状态": ["未结案"] * n, "经度": LON0 + rng.uniform(0, 0.02, n), "纬度": LAT0 + rng.uniform(0, 0.02, n)})


def test_vocabulary_carries_the_classes_and_their_other_names():
    vocab = load_vocabulary("gbt30428_2_events")
    category = layer_spec("inspections").fields["category"]
    assert category.vocabulary == "gbt30428_2_events" and category.values == vocab.values
    assert {"0102", "0104", "0201", "0301", "0501", "0502", "0503", "0601", "9999"} == set(vocab.values)
    for alias in ("非法小广告", "乱张贴", "乱张贴小广告", "牛皮癣"):
        assert vocab.aliases[alias] == "0201"
    assert vocab.major_of("0201") == "宣传广告" and vocab.major_of("0102") == "市容环境"


def test_unknown_value_reported_once_with_the_map_line(ws, tmp_path, capsys):
    src = tmp_path / "cases.csv"
    _cases().to_csv(src, index=False, encoding="gbk")
    with pytest.raises(ValidationError) as err:
        import_file(ws, "inspections", src)
    (problem,) = err.value.problems  # one message for 1 487 cases, not 1 487 lines
    assert problem.code == "unknown_value" and "1487 个要素" in problem.message
    assert problem.feature == "AJ00000、AJ00001、AJ00002 等 1487 个要素"
    assert "--map category 小广告张贴=0201" in problem.hint
    # the exact line, given on the command line, imports them all
    assert main(["import", str(ws.path), "inspections", str(src), "--map", "category", "小广告张贴=0201"]) == 0
    stored = ws.read("inspections").set_index("case_id").sort_index()
    assert (stored["category"].iloc[:1487] == "0201").all()
    assert (stored["category"].iloc[1487:1492] == "0201").all()  # 乱张贴: a name the vocabulary knows
    assert (stored["category"].iloc[1492:] == "0102").all()
    assert stored["category"].value_counts().to_dict() == {"0201": 1492, "0102": 8}


def test_workspace_vocabulary_file_extends_the_catalogue(ws, tmp_path):
    src = tmp_path / "cases.csv"
    _cases(n=40, n_other=30).to_csv(src, index=False)
    workspace_vocabulary_path(ws.path).write_text('[inspections.category]\n"小广告张贴" = "0201"\n', encoding="utf-8")
    report = import_file(ws, "inspections", src)
    assert ws.read("inspections")["category"].value_counts().to_dict() == {"0201": 35, "0102": 5}
    assert any("小广告张贴→0201" in n for n in report.notes)
    workspace_vocabulary_path(ws.path).write_text('[inspections.category]\n"小广告张贴" = "0299"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown codes"):
        import_file(ws, "inspections", src)


# ---------------------------------------------------------------- 5. workspace hygiene
def test_import_into_a_missing_workspace_needs_create(tmp_path, capsys):
    src = tmp_path / "b.geojson"
    gpd.GeoDataFrame({"名称": ["建成区"]}, geometry=[box(LON0, LAT0, LON0 + 0.01, LAT0 + 0.01)], crs=4326).to_file(src)
    typo = tmp_path / "countty.gpkg"
    assert main(["import", str(typo), "built_up", str(src)]) == 1
    assert "--create" in capsys.readouterr().err and not typo.exists()
    assert main(["import", str(typo), "built_up", str(src), "--create"]) == 0
    assert Workspace(typo).read("built_up")["name"].tolist() == ["建成区"]


def _edit(ws, layer, column, value, where=None):
    """Change stored values behind civgis's back, as an edit in QGIS does."""
    raw = pyogrio.read_dataframe(ws.path, layer=layer)
    rows = raw.index if where is None else raw.index[raw[where[0]] == where[1]]
    raw[column] = raw[column].astype(object)
    raw.loc[rows, column] = value
    pyogrio.write_dataframe(raw, ws.path, layer=layer, driver="GPKG")


def _stored_with_errors(ws, tmp_path) -> set:
    """Lamps, a road and a case imported clean, then edited in the file behind civgis's back; the errors
    validation must find."""
    lamps = tmp_path / "lamps.csv"
    pd.DataFrame({"lamp_id": ["L1", "L2", "L3"], "lon": [LON0, LON0 + 1e-3, LON0 + 2e-3], "lat": LAT0,
                  "status": ["working", "broken", "working"]}).to_csv(lamps, index=False)
    import_file(ws, "lamps", lamps)
    roads = tmp_path / "roads.geojson"
    gpd.GeoDataFrame({"road_id": ["R1"], "road_class": ["branch"], "width_m": [12.0]},
                     geometry=[LineString([(LON0, LAT0), (LON0 + 0.01, LAT0)])], crs=4326).to_file(roads)
    import_file(ws, "roads", roads)
    cases = tmp_path / "cases.csv"
    pd.DataFrame({"case_id": ["C1"], "category": ["0102"], "reported_at": ["2026-11-01 08:00"],
                  "deadline": ["2026-11-02 08:00"], "closed_at": ["2026-11-01 10:00"], "status": ["closed"],
                  "lon": [LON0], "lat": [LAT0]}).to_csv(cases, index=False)
    import_file(ws, "inspections", cases)
    assert [p for p in validate_workspace(ws) if p.severity == "error"] == []
    _edit(ws, "lamps", "status", "maybe", ("lamp_id", "L2"))
    _edit(ws, "lamps", "status", "故障", ("lamp_id", "L3"))
    _edit(ws, "roads", "width_m", -5.0)
    _edit(ws, "inspections", "closed_at", None)
    return {("lamps", "L2", "status", "unknown_value"), ("lamps", "L3", "status", "label_not_code"),
            ("roads", "R1", "width_m", "out_of_range"), ("inspections", "C1", "closed_at", "closed_without_time")}


def _errors(problems) -> set:
    return {(p.layer, p.feature, p.field, p.code) for p in problems if p.severity == "error"}


def test_validate_rechecks_every_catalogue_rule_on_stored_layers(ws, tmp_path):
    expected = _stored_with_errors(ws, tmp_path)
    assert _errors(validate_workspace(ws)) == expected
    assert main(["validate", str(ws.path)]) == 1


def test_a_runs_validation_checks_its_snapshot_and_reads_each_table_once_with_the_analyses(ws, tmp_path):
    from civgis.store.layers import Layers

    expected = _stored_with_errors(ws, tmp_path)
    with Layers(ws) as snapshot:
        assert validate_workspace(snapshot) == validate_workspace(ws)
        lamps = snapshot.read("lamps")
        assert lamps.equals(ws.read("lamps"))             # typed from the table validation read
        assert str(lamps["status"].dtype) == str(ws.read("lamps")["status"].dtype)
        snapshot.read("roads"), snapshot.read("inspections")
        assert snapshot.reads == {"lamps": 1, "roads": 1, "inspections": 1}
        # an import commits meanwhile: the run goes on checking the version it started on
        fixed = ws.read("lamps")
        fixed["status"] = "working"
        ws.write("lamps", fixed, source="test")
        ws.write("toilets", gpd.GeoDataFrame({"toilet_id": ["T1"]}, geometry=[Point(fixed.geometry.iloc[0].coords[0])],
                                             crs=ws.crs), source="test")
        assert _errors(validate_workspace(snapshot)) == expected
        assert "toilets" not in snapshot.layers() and not snapshot.has("toilets")
    assert _errors(validate_workspace(ws)) == expected - {("lamps", "L2", "status", "unknown_value"),
                                                          ("lamps", "L3", "status", "label_not_code")}
    assert "toilets" in ws.layers()


# ---------------------------------------------------------------- 6. spreadsheet exports
def test_export_round_trip_csv_and_xlsx_as_text(ws, tmp_path):
    ids = ["3413210118000001", "3413210118000002", "0013210118000003"]
    lon = np.array([LON0, LON0 + 0.001, LON0 + 0.002])
    src = tmp_path / "lamps.csv"
    pd.DataFrame({"路灯编号": ids, "经度": lon, "纬度": LAT0, "状态": ["正常", "故障", "正常"],
                  "备注": ["=1+1", "+86 138", "@路口"]}).to_csv(src, index=False, encoding="gbk")
    import_file(ws, "lamps", src)
    stored_order = ws.read("lamps")["lamp_id"].tolist()
    assert stored_order == ids

    csv = export_layer(ws, "lamps", tmp_path / "out.csv", gcj02=True)
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")  # utf-8-sig
    back = pd.read_csv(csv, dtype=str, encoding="utf-8-sig")
    assert back["路灯编号"].tolist() == ids
    assert back["状态"].tolist() == ["正常", "故障", "正常"] and back["状态代码"].tolist() == ["working", "broken", "working"]
    assert np.allclose(back["经度"].astype(float), lon, atol=2e-7) and np.allclose(back["纬度"].astype(float), LAT0, atol=2e-7)
    glon, glat = coords.wgs84_to_gcj02(lon, np.full(3, LAT0))
    assert np.allclose(back["经度(GCJ-02)"].astype(float), glon, atol=2e-7)
    assert np.allclose(back["纬度(GCJ-02)"].astype(float), glat, atol=2e-7)

    xlsx = export_layer(ws, "lamps", tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["路灯编号", "状态", "状态代码"] and "经度" in header and "纬度" in header
    id_cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in id_cells] == ids and all(c.data_type == "s" for c in id_cells)
    note_cells = [row[header.index("备注")] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in note_cells] == ["=1+1", "+86 138", "@路口"]
    assert all(c.data_type == "s" for c in note_cells)  # text, never a formula
    as_text = pd.read_excel(xlsx, dtype=str)
    assert as_text["路灯编号"].tolist() == ids

    # and back in: the exported tables are importable as they are (Chinese headers are catalogue aliases)
    for i, exported in enumerate((csv, xlsx)):
        again = Workspace.create(tmp_path / f"again{i}.gpkg")
        import_file(again, "lamps", exported)
        back_in = again.read("lamps")
        assert back_in["lamp_id"].tolist() == ids and back_in["status"].tolist() == ["working", "broken", "working"]
        assert np.allclose(back_in.geometry.x, ws.read("lamps").geometry.x, atol=0.02)  # 1e-7° ≈ 1 cm
