"""Regenerate the README's layer-catalogue table from layers/*.toml (tests check it is current)."""

from pathlib import Path

from civgis.store.catalogue import catalogue_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"


def updated(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{catalogue_markdown()}{END}{tail}"


if __name__ == "__main__":
    README.write_text(updated(README.read_text(encoding="utf-8")), encoding="utf-8")
