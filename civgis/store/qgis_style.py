"""QGIS default styles for the GeoPackages civgis writes: QML built from the catalogue, stored in ``layer_styles``.

QGIS keeps a layer's style inside a GeoPackage in a table ``layer_styles`` (columns
``f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, styleQML,
styleSLD, useAsDefault, description, owner, ui, update_time``); the row with ``useAsDefault = 1``
is applied when the layer is opened. civgis writes that row itself, made from the layer
catalogue (``data/layers/*.toml``):

- the symbol from ``[style]`` (``color``, ``fill_color``, ``fill_opacity``, ``weight``, ``radius``,
  ``dash``), a categorised renderer where ``[style.by_value.FIELD]`` colours a coded field, with
  the field's Chinese value labels (``G1`` → ``公园绿地``);
- Chinese field aliases (``label_zh``) and value maps (the edit widget shows ``故障`` for ``broken``);
- zones as outlines with their names as labels, the built-up boundary as a dashed outline.

The builders are pure (spec in, QML text out); :func:`write_layer_styles` stores them.

Examples
--------
>>> from civgis.store.catalogue import layer_spec
>>> qml = layer_qml(layer_spec("lamps"))
>>> 'type="categorizedSymbol"' in qml and 'value="broken"' in qml and "故障" in qml
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from civgis.store.catalogue import LayerSpec

__all__ = ["STYLE_TABLE", "QGIS_VERSION", "LABEL_FONT", "Category", "StyleSpec", "style_from_spec", "style_qml",
           "layer_qml", "write_layer_styles", "read_layer_styles"]

STYLE_TABLE = "layer_styles"
#: the QGIS version the QML claims (3.22 LTR, Debian bookworm; later versions read it unchanged)
QGIS_VERSION = "3.22.0-Białowieża"
#: label font; QGIS falls back to a system font with CJK glyphs when it is missing
LABEL_FONT = "Noto Sans CJK SC"
#: screen pixels (the folium styles) → QGIS millimetres (96 dpi)
PX_MM = 25.4 / 96


@dataclass(frozen=True)
class Category:
    """One class of a categorised renderer: the stored value, its label and colours."""

    value: str
    label: str
    color: str                 # fill (polygons, points) or line colour
    outline: str | None = None
    width: float | None = None  # line width in px (lines)


@dataclass
class StyleSpec:
    """Everything a QML style says about one layer (geometry kind: ``Point``, ``LineString``, ``Polygon``)."""

    geometry: str
    color: str = "#3388ff"
    fill_color: str | None = None
    fill_opacity: float = 1.0
    weight: float = 1.0
    radius: float = 4.0
    dash: str | None = None
    category_field: str | None = None
    categories: list[Category] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    value_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    label_field: str | None = None
    outline_only: bool = False


# ---------------------------------------------------------------------- from the catalogue
def style_from_spec(spec: LayerSpec) -> StyleSpec:
    """The :class:`StyleSpec` of a catalogue layer (its ``[style]`` table, fields and value labels)."""
    st = spec.style
    aliases = {name: f.label_zh for name, f in spec.fields.items() if f.label_zh}
    value_maps = {name: dict(f.values) for name, f in spec.fields.items() if f.values}
    value_maps.update({name: {"1": "是", "0": "否"} for name, f in spec.fields.items() if f.type == "bool"})
    out = StyleSpec(geometry=spec.geometry, color=st.get("color", "#3388ff"), fill_color=st.get("fill_color"),
                    fill_opacity=float(st.get("fill_opacity", 1.0)), weight=float(st.get("weight", 1.0)),
                    radius=float(st.get("radius", 4.0)), dash=st.get("dash"), aliases=aliases,
                    value_maps=value_maps)
    if spec.name == "zones":
        out.outline_only, out.label_field = True, "name"
    by_value = st.get("by_value", {})
    if by_value:
        fname, colours = next(iter(by_value.items()))
        widths = st.get("weight_by_value", {}).get(fname, {})
        fspec = spec.fields.get(fname)
        out.category_field = fname
        out.categories = [Category(value=str(code), label=f"{fspec.value_label(code) if fspec else code}（{code}）",
                                   color=colour, outline=st.get("color") if spec.geometry == "Polygon" else None,
                                   width=widths.get(code)) for code, colour in colours.items()]
    return out


def layer_qml(spec: LayerSpec) -> str:
    """The QML default style of one catalogue layer."""
    return style_qml(style_from_spec(spec))


# ---------------------------------------------------------------------- QML text
def _rgba(hex_colour: str, alpha: float = 1.0) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(255 * alpha)}"


def _options(props: dict[str, str]) -> str:
    """Symbol-layer properties as QGIS writes them (the ``Option`` map and the older ``prop`` list)."""
    opts = "".join(f'<Option type="QString" name={quoteattr(k)} value={quoteattr(v)}/>' for k, v in props.items())
    old = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())
    return f'<Option type="Map">{opts}</Option>{old}'


def _symbol(style: StyleSpec, name: str, colour: str | None = None, width: float | None = None) -> str:
    colour = colour or style.fill_color or style.color
    if style.geometry == "Point":
        kind, cls = "marker", "SimpleMarker"
        props = {"name": "circle", "color": _rgba(colour), "outline_color": "255,255,255,255",
                 "outline_width": "0.2", "outline_width_unit": "MM", "size": f"{2 * style.radius * PX_MM:.2f}",
                 "size_unit": "MM"}
    elif style.geometry == "LineString":
        kind, cls = "line", "SimpleLine"
        dash = {"use_custom_dash": "1", "customdash": style.dash.replace(" ", ";"),
                "customdash_unit": "Pixel"} if style.dash else {}
        props = {"line_color": _rgba(colour), "line_width": f"{(width or style.weight) * PX_MM:.2f}",
                 "line_width_unit": "MM", "line_style": "solid", "capstyle": "round", "joinstyle": "round", **dash}
    else:
        kind, cls = "fill", "SimpleFill"
        outline = style.color
        fill_alpha = 0.0 if style.outline_only else style.fill_opacity
        props = {"color": _rgba(colour, fill_alpha), "style": "no" if fill_alpha == 0 else "solid",
                 "outline_color": _rgba(outline), "outline_width": f"{style.weight * PX_MM:.2f}",
                 "outline_width_unit": "MM", "outline_style": "dash" if style.dash else "solid",
                 "joinstyle": "round"}
    return (f'<symbol type="{kind}" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="{cls}" enabled="1" pass="0" locked="0">{_options(props)}</layer></symbol>')


def _renderer(style: StyleSpec) -> str:
    if not style.category_field:
        return (f'<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                f'<symbols>{_symbol(style, "0")}</symbols><rotation/><sizescale/></renderer-v2>')
    cats = "".join(f'<category render="true" symbol="{i}" value={quoteattr(c.value)} label={quoteattr(c.label)}/>'
                   for i, c in enumerate(style.categories))
    symbols = "".join(_symbol(style, str(i), c.color, c.width) for i, c in enumerate(style.categories))
    return (f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(style.category_field)} symbollevels="0" '
            f'enableorderby="0" forceraster="0"><categories>{cats}</categories><symbols>{symbols}</symbols>'
            f'<source-symbol>{_symbol(style, "0")}</source-symbol><rotation/><sizescale/></renderer-v2>')


def _field_configuration(style: StyleSpec) -> str:
    fields = []
    for name, mapping in style.value_maps.items():
        entries = "".join(f'<Option type="Map"><Option type="QString" name={quoteattr(label)} '
                          f'value={quoteattr(code)}/></Option>' for code, label in mapping.items())
        fields.append(f'<field name={quoteattr(name)} configurationFlags="None"><editWidget type="ValueMap">'
                      f'<config><Option type="Map"><Option type="List" name="map">{entries}</Option></Option>'
                      f'</config></editWidget></field>')
    aliases = "".join(f'<alias field={quoteattr(n)} index="{i}" name={quoteattr(a)}/>'
                      for i, (n, a) in enumerate(style.aliases.items()))
    return f"<fieldConfiguration>{''.join(fields)}</fieldConfiguration><aliases>{aliases}</aliases>"


def _labeling(style: StyleSpec) -> str:
    if not style.label_field:
        return ""
    return (f'<labeling type="simple"><settings calloutType="simple">'
            f'<text-style fieldName={quoteattr(style.label_field)} isExpression="0" fontFamily="{LABEL_FONT}" '
            f'fontSize="9" fontSizeUnit="Point" fontWeight="75" textColor="{_rgba(style.color)}" textOpacity="1" '
            f'namedStyle="Bold" multilineAlign="3">'
            f'<text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" '
            f'bufferOpacity="1" bufferJoinStyle="128"/></text-style>'
            f'<text-format wrapChar="" autoWrapLength="0" multilineHeight="1" addDirectionSymbol="0"/>'
            f'<placement placement="0" centroidInside="1" fitInPolygonOnly="0" overlapHandling="PreventOverlap"/>'
            f'<rendering drawLabels="1" obstacle="1" scaleVisibility="0" displayAll="0"/>'
            f'</settings></labeling>')


def style_qml(style: StyleSpec) -> str:
    """The QML document of a :class:`StyleSpec` (symbology, labels, field aliases and value maps)."""
    labels_enabled = "1" if style.label_field else "0"
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology|Labeling|Fields|Forms" '
            f'labelsEnabled="{labels_enabled}">'
            f"{_renderer(style)}{_labeling(style)}{_field_configuration(style)}</qgis>\n")


# ---------------------------------------------------------------------- layer_styles table
_CREATE = f"""CREATE TABLE IF NOT EXISTS {STYLE_TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
    f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
    useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
    update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""


def write_layer_styles(gpkg: str | Path, styles: dict[str, str], *, style_name: str = "civgis") -> None:
    """Store ``{table: QML}`` as each table's default style in ``gpkg``'s ``layer_styles`` (as QGIS does).

    The table is created (and registered in ``gpkg_contents`` as an attribute table) when missing;
    a table's previous default rows are replaced, so rewriting a layer keeps one default style.
    ``f_geometry_column`` is the table's own geometry column (GDAL names it ``geom``): QGIS
    matches a style to its layer by table and geometry column.
    """
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with contextlib.closing(sqlite3.connect(gpkg)) as con, con:
        con.execute(_CREATE)
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                    "last_change) VALUES (?, 'attributes', ?, 'QGIS layer styles', ?)", (STYLE_TABLE, STYLE_TABLE, now))
        geometry_columns = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        for table, qml in styles.items():
            geometry_column = geometry_columns.get(table, "")
            con.execute(f"DELETE FROM {STYLE_TABLE} WHERE f_table_name = ? AND (styleName = ? OR useAsDefault)",
                        (table, style_name))
            con.execute(f"INSERT INTO {STYLE_TABLE} (f_table_catalog, f_table_schema, f_table_name, f_geometry_column,"
                        " styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time)"
                        " VALUES ('', '', ?, ?, ?, ?, '', 1, ?, 'civgis', NULL, ?)",
                        (table, geometry_column, style_name, qml, f"civgis 默认样式 default style of {table}", now))


def read_layer_styles(gpkg: str | Path) -> dict[str, str]:
    """``{table: QML}`` of the default styles stored in ``gpkg`` (empty when it has none)."""
    with contextlib.closing(sqlite3.connect(gpkg)) as con:
        try:
            rows = con.execute(f"SELECT f_table_name, styleQML FROM {STYLE_TABLE} WHERE useAsDefault").fetchall()
        except sqlite3.OperationalError:
            return {}
    return dict(rows)
