"""The layer catalogue: schemas, Chinese aliases and map styles read from ``layers/*.toml``.

The catalogue is declarative data; the code never repeats it. Each file describes one layer:
its geometry type, its fields (type, required, unique, allowed values with Chinese labels,
accepted Chinese column aliases) and its map style.

Examples
--------
>>> from civgis.store.catalogue import layer_spec
>>> spec = layer_spec("lamps")
>>> spec.id_field, spec.geometry
('lamp_id', 'Point')
>>> spec.fields["status"].values["broken"]
'故障'
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_CATALOGUE_DIR", "VOCABULARY_DIR", "WORKSPACE_VOCABULARY_SUFFIX", "FIELD_TYPES",
           "GEOMETRY_TYPES", "FieldSpec", "LayerSpec", "Vocabulary", "load_vocabulary",
           "workspace_vocabulary_path", "load_workspace_vocabulary", "load_catalogue", "layer_spec",
           "vector_layers", "catalogue_markdown"]

#: Where the catalogue lives: ``$CIVGIS_LAYERS`` or ``layers/`` beside the package.
DEFAULT_CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "data" / "layers"
#: Classification vocabularies (coded values of a field): ``data/vocabulary/NAME.toml``
VOCABULARY_DIR = Path(__file__).resolve().parent.parent / "data" / "vocabulary"
#: the bureau's own value names beside a workspace: ``county.gpkg`` → ``county.vocabulary.toml``
WORKSPACE_VOCABULARY_SUFFIX = ".vocabulary.toml"

FIELD_TYPES = ("str", "int", "float", "bool", "datetime")
GEOMETRY_TYPES = ("Point", "LineString", "Polygon")


@dataclass(frozen=True)
class FieldSpec:
    """One attribute of a layer."""

    name: str
    type: str
    required: bool = False
    unique: bool = False
    label_zh: str = ""
    aliases: tuple[str, ...] = ()
    #: allowed codes → Chinese label; empty means any value
    values: dict[str, str] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    #: other names of coded values → code (``乱张贴`` → ``0201``), from the field or its vocabulary
    value_aliases: dict[str, str] = field(default_factory=dict)
    #: the vocabulary file the codes come from (``data/vocabulary/NAME.toml``), if any
    vocabulary: str | None = None

    def label(self) -> str:
        return self.label_zh or self.name

    def value_label(self, code) -> str:
        """Chinese label of a coded value (the code itself when it has none)."""
        return self.values.get(str(code), str(code))


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the catalogue."""

    name: str
    title_zh: str
    kind: str = "vector"
    geometry: str | None = None
    id_field: str | None = None
    description: str = ""
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    style: dict = field(default_factory=dict)
    value_range: tuple[float, float] | None = None

    @property
    def required_fields(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.required]

    def alias_map(self) -> dict[str, str]:
        """Source column name (any case) → catalogue field name, aliases included."""
        mapping: dict[str, str] = {}
        for spec in self.fields.values():
            mapping[spec.name.lower()] = spec.name
            mapping[spec.label_zh.lower()] = spec.name
            for alias in spec.aliases:
                mapping[alias.lower()] = spec.name
        mapping.pop("", None)
        return mapping

    def label(self, field_name: str) -> str:
        spec = self.fields.get(field_name)
        return spec.label() if spec else field_name


def _field_from_toml(name: str, raw: dict) -> FieldSpec:
    ftype = raw.get("type", "str")
    if ftype not in FIELD_TYPES:
        raise ValueError(f"catalogue field {name!r}: unknown type {ftype!r}; use one of {FIELD_TYPES}")
    values = {str(k): str(v) for k, v in raw.get("values", {}).items()}
    value_aliases = {str(k): str(v) for k, v in raw.get("value_aliases", {}).items()}
    if raw.get("vocabulary"):
        vocab = load_vocabulary(raw["vocabulary"])
        values = {**vocab.values, **values}
        value_aliases = {**vocab.aliases, **value_aliases}
    unknown = sorted(set(value_aliases.values()) - set(values))
    if unknown:
        raise ValueError(f"catalogue field {name!r}: value aliases point to unknown codes {unknown}")
    return FieldSpec(
        name=name,
        type=ftype,
        required=bool(raw.get("required", False)),
        unique=bool(raw.get("unique", False)),
        label_zh=raw.get("label_zh", ""),
        aliases=tuple(raw.get("aliases", ())),
        values=values,
        min=raw.get("min"),
        max=raw.get("max"),
        value_aliases=value_aliases,
        vocabulary=raw.get("vocabulary"),
    )


def _layer_from_toml(raw: dict, source: Path) -> LayerSpec:
    kind = raw.get("kind", "vector")
    geometry = raw.get("geometry")
    if kind == "vector" and geometry not in GEOMETRY_TYPES:
        raise ValueError(f"{source}: geometry must be one of {GEOMETRY_TYPES}, not {geometry!r}")
    fields = {name: _field_from_toml(name, f) for name, f in raw.get("fields", {}).items()}
    id_field = raw.get("id_field")
    if id_field is not None and id_field not in fields:
        raise ValueError(f"{source}: id_field {id_field!r} is not among its fields")
    value_range = raw.get("value_range")
    return LayerSpec(
        name=raw["name"],
        title_zh=raw.get("title_zh", raw["name"]),
        kind=kind,
        geometry=geometry,
        id_field=id_field,
        description=raw.get("description", ""),
        fields=fields,
        style=raw.get("style", {}),
        value_range=tuple(value_range) if value_range else None,
    )


@dataclass(frozen=True)
class Vocabulary:
    """A classification: codes → names, major classes, and other names → code."""

    name: str
    standard: str
    status: str
    values: dict[str, str]
    aliases: dict[str, str]
    majors: dict[str, str]

    def major_of(self, code: str) -> str | None:
        """The major-class name (大类) of a minor-class code."""
        return self.majors.get(self._major_code.get(code, ""))

    @property
    def _major_code(self) -> dict[str, str]:
        return {code: code[:2] for code in self.values}


@functools.cache
def load_vocabulary(name: str) -> Vocabulary:
    """Read ``data/vocabulary/NAME.toml`` (see ``gbt30428_2_events.toml`` for the layout)."""
    path = VOCABULARY_DIR / f"{name}.toml"
    if not path.exists():
        raise FileNotFoundError(f"vocabulary {name!r} not found at {path}")
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    values, aliases = {}, {}
    for code, entry in raw.get("minor", {}).items():
        values[str(code)] = entry["name"]
        for alias in entry.get("aliases", ()):
            if aliases.get(alias, code) != code:
                raise ValueError(f"{path}: alias {alias!r} names two classes ({aliases[alias]}, {code})")
            aliases[alias] = str(code)
    majors = {str(code): entry["name"] for code, entry in raw.get("major", {}).items()}
    return Vocabulary(name=name, standard=raw.get("standard", ""), status=raw.get("status", ""),
                      values=values, aliases=aliases, majors=majors)


def workspace_vocabulary_path(workspace_path: str | os.PathLike) -> Path:
    """``county.gpkg`` → ``county.vocabulary.toml`` beside it."""
    path = Path(workspace_path)
    return path.with_name(path.stem + WORKSPACE_VOCABULARY_SUFFIX)


def load_workspace_vocabulary(workspace_path: str | os.PathLike) -> dict[str, dict[str, dict[str, str]]]:
    """The bureau's value names beside a workspace: ``{layer: {field: {源值: code}}}`` (empty if none).

    The file holds one table per field, e.g.::

        [inspections.category]
        "街头小广告" = "0201"

    Every code must be a code of that field in the catalogue.
    """
    path = workspace_vocabulary_path(workspace_path)
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    out: dict[str, dict[str, dict[str, str]]] = {}
    for layer, fields in raw.items():
        spec = layer_spec(layer)
        for fname, mapping in fields.items():
            if fname not in spec.fields or not spec.fields[fname].values:
                raise ValueError(f"{path}: [{layer}.{fname}] — {fname!r} is not a coded field of {layer}")
            codes = spec.fields[fname].values
            bad = {k: v for k, v in mapping.items() if str(v) not in codes}
            if bad:
                raise ValueError(f"{path}: [{layer}.{fname}] unknown codes {bad}; codes are: {', '.join(codes)}")
            out.setdefault(layer, {})[fname] = {str(k): str(v) for k, v in mapping.items()}
    return out


@functools.cache
def load_catalogue(directory: str | os.PathLike | None = None) -> dict[str, LayerSpec]:
    """Read every ``*.toml`` in the catalogue directory into ``{layer name: LayerSpec}``."""
    directory = Path(directory or os.environ.get("CIVGIS_LAYERS") or DEFAULT_CATALOGUE_DIR)
    if not directory.is_dir():
        raise FileNotFoundError(f"layer catalogue not found at {directory} (set CIVGIS_LAYERS)")
    raw = []
    for path in sorted(directory.glob("*.toml")):
        with open(path, "rb") as fh:
            raw.append((path, tomllib.load(fh)))
    raw.sort(key=lambda item: (item[1].get("order", 999), item[1]["name"]))  # the catalogue's own order
    return {spec.name: spec for spec in (_layer_from_toml(r, p) for p, r in raw)}


def layer_spec(name: str) -> LayerSpec:
    """The catalogue entry of one layer; a clear error lists the known layers."""
    catalogue = load_catalogue()
    try:
        return catalogue[name]
    except KeyError:
        known = ", ".join(f"{n} ({s.title_zh})" for n, s in catalogue.items())
        raise KeyError(f"未知图层 unknown layer {name!r}; known layers: {known}") from None


def vector_layers() -> list[str]:
    return [n for n, s in load_catalogue().items() if s.kind == "vector"]


def catalogue_markdown() -> str:
    """The catalogue as a Markdown table (the README's "bring your own data" section is generated from it)."""
    lines = ["| layer | 名称 | geometry | field | 字段 | type | required | values / Chinese aliases accepted |",
             "|---|---|---|---|---|---|---|---|"]
    for spec in load_catalogue().values():
        if spec.kind == "raster":
            lines.append(f"| `{spec.name}` | {spec.title_zh} | raster | | | float 0–1 | | GeoTIFF, 0/1 or fractional cover |")
            continue
        for i, f in enumerate(spec.fields.values()):
            head = (f"| `{spec.name}` | {spec.title_zh} | {spec.geometry} " if i == 0 else "| | | ")
            values = "; ".join(f"{code} {label}" for code, label in f.values.items())
            aliases = "、".join(f.aliases)
            extra = " — ".join(x for x in (values, aliases) if x)
            req = "yes" if f.required else ""
            lines.append(f"{head}| `{f.name}` | {f.label_zh} | {f.type} | {req} | {extra} |")
    return "\n".join(lines) + "\n"
