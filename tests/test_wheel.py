"""The built wheel works when installed: package data inside, the command runs outside the checkout.

The test builds the wheel from a copy of the sources (so the checkout gets no ``build/`` or
``*.egg-info``), installs it with ``--no-deps`` into a fresh virtual environment whose only link
to the test environment is a ``.pth`` line naming its site-packages (the dependencies, no network),
and runs ``civgis`` from a folder outside the checkout with no ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # about 90 s; `make test` (CI) runs it

REPO = Path(__file__).resolve().parent.parent

#: files a working install needs besides the modules
PACKAGE_DATA = ["civgis/data/targets.toml", "civgis/data/vocabulary/gbt30428_2_events.toml", "civgis/data/layers/built_up.toml", "civgis/data/layers/inspections.toml",
                "civgis/render/assets/leaflet/leaflet.js", "civgis/render/assets/leaflet/leaflet.css",
                "civgis/render/assets/leaflet/images/marker-icon.png", "civgis/render/templates/report.html.j2"]

#: a 1 km × 1 km built-up area near 117° E (EPSG:4527's central meridian), as WGS 84 GeoJSON
BUILT_UP = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {"名称": "测试县城"},
    "geometry": {"type": "Polygon", "coordinates": [[[117.0, 30.0], [117.0104, 30.0], [117.0104, 30.009],
                                                     [117.0, 30.009], [117.0, 30.0]]]}}]}


def run(cmd, cwd, env, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "civgis", src / "civgis", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", tmp / "dist"], cwd=src, env=env)
    wheel = next((tmp / "dist").glob("civgis-*.whl"))

    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp, env=env)
    py = venv / "bin" / "python"
    venv_site = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env).stdout.strip())
    # the test environment's packages (the dependencies) — a plain path line, so its .pth files
    # (an editable civgis among them) are not processed and only the wheel provides civgis
    (venv_site / "_test_env_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp, env=env)
    outside = tmp / "elsewhere"
    outside.mkdir()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"wheel": wheel, "py": py, "civgis": venv / "bin" / "civgis", "cwd": outside, "env": env,
            "site": venv_site}


def test_wheel_holds_the_package_data(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    missing = [n for n in PACKAGE_DATA if n not in names]
    assert not missing, f"not in the wheel: {missing}"
    catalogue = sorted(p.name for p in (REPO / "civgis" / "data" / "layers").glob("*.toml"))
    assert sorted(Path(n).name for n in names if n.startswith("civgis/data/layers/")) == catalogue
    assert not any(n.startswith(("tests/", "notebooks/", "bench/")) for n in names)


def test_installed_package_imports_from_the_venv(installed):
    code = ("import civgis, civgis.store; print(civgis.__file__); print(civgis.__version__); "
            "print(len(civgis.store.load_catalogue())); t = civgis.load_targets(); print(len(t.targets))")
    out = run([installed["py"], "-c", code], installed["cwd"], installed["env"]).stdout.split()
    assert Path(out[0]).is_relative_to(installed["site"]), out[0]   # the wheel's copy, not the checkout
    assert out[1] == "0.1.0"
    assert int(out[2]) == len(list((REPO / "civgis" / "data" / "layers").glob("*.toml")))
    assert int(out[3]) > 0


def test_installed_command_runs_outside_the_checkout(installed):
    civgis, cwd, env = installed["civgis"], installed["cwd"], installed["env"]
    assert run([civgis, "--version"], cwd, env).stdout.strip().endswith("0.1.0")
    assert "indicators" in run([civgis, "--help"], cwd, env).stdout
    run([civgis, "init", "county.gpkg", "--crs", "EPSG:4527"], cwd, env)
    assert (cwd / "county.gpkg").exists()
    (cwd / "built_up.geojson").write_text(json.dumps(BUILT_UP, ensure_ascii=False), encoding="utf-8")
    run([civgis, "import", "county.gpkg", "built_up", "built_up.geojson"], cwd, env)
    rows = json.loads(run([civgis, "indicators", "county.gpkg", "--json", "-"], cwd, env).stdout)
    area = {r["indicator"]: r for r in rows if r["scope"] == "city" and r.get("road_class") is None}
    # no green layer: 无数据 (value null), never 0 %
    assert "green_space_ratio" in area and area["green_space_ratio"]["value"] is None
    # the web map finds the bundled Leaflet copy inside the installed package
    run([civgis, "webmap", "county.gpkg", "--out", "maps"], cwd, env)
    page = cwd / "maps" / "county.html"
    html = page.read_text(encoding="utf-8")
    assert "unpkg.com" not in html and "cdn.jsdelivr" not in html
    bundled = (REPO / "civgis/render/assets/leaflet/leaflet.js").read_text(encoding="utf-8")[-200:]
    assert bundled in html or any(bundled in p.read_text(encoding="utf-8", errors="ignore")
                                  for p in (cwd / "maps").rglob("*.js"))
