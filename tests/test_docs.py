"""The README keeps its promises: two commands, .ci/run runs the test command, the catalogue table is current."""

import re
import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_quick_start_is_exactly_two_commands():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    lines = [l.strip() for l in (REPO / ".ci/run").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[-1] == "make test"


def test_catalogue_table_is_current():
    module = runpy.run_path(str(REPO / "scripts/update-readme.py"), run_name="not_main")
    assert module["updated"](README) == README, "run: python scripts/update-readme.py"


def test_layout_names_every_subpackage_and_the_architecture_page():
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.parent.name for p in (REPO / "civgis").glob("*/__init__.py"))
    assert packages == ["analysis", "cli", "demo", "render", "run", "store"]
    missing = [name for name in packages if f"{name}/" not in layout]
    assert not missing, f"README layout does not name: {missing}"
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in packages:
        assert f"civgis/{name}" in page or f"`{name}`" in page, name
    assert "store ← analysis ← render ← run ← cli" in page
