"""Run by the system python3 (Debian's python3-qgis): open GeoPackages in QGIS headless, report, render.

Usage: python3 open_workspace.py OUT.json PNG GPKG [GPKG …]. Every vector layer of each file is
loaded the way QGIS Desktop loads it (the OGR provider applies the default style of
``layer_styles``); what QGIS made of it — renderer type and field, categories with labels, field
aliases, value maps, labelling — is written as JSON; the layers of the first file are rendered to PNG.
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsProviderRegistry,  # noqa: E402
                       QgsRectangle, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402


def describe(layer):
    r = layer.renderer()
    out = {"valid": layer.isValid(), "features": layer.featureCount(), "renderer": r.type(),
           "aliases": {f.name(): layer.attributeAlias(i) for i, f in enumerate(layer.fields())},
           "widgets": {}, "labels": bool(layer.labelsEnabled())}
    if r.type() == "categorizedSymbol":
        out["attr"] = r.classAttribute()
        out["categories"] = [{"value": str(c.value()), "label": c.label(),
                              "color": c.symbol().color().name()} for c in r.categories()]
    else:
        sym = r.symbol()
        out["color"] = sym.color().name()
        out["fill_style"] = sym.symbolLayer(0).properties().get("style")
    if layer.labelsEnabled():
        out["label_field"] = layer.labeling().settings().fieldName
    for i, f in enumerate(layer.fields()):
        setup = layer.editorWidgetSetup(i)
        if setup.type() == "ValueMap":
            pairs = {}
            for entry in setup.config().get("map", []):
                pairs.update({v: k for k, v in entry.items()})
            out["widgets"][f.name()] = pairs
    return out


def main():
    out_json, png, *paths = sys.argv[1:]
    app = QgsApplication([], False)
    app.initQgis()
    report = {}
    render_layers = []
    for n, path in enumerate(paths):
        meta = QgsProviderRegistry.instance().providerMetadata("ogr")
        for sub in meta.querySublayers(path):
            name = sub.name()
            if name in ("civgis_meta", "layer_styles", "zones_history") or sub.type() != 0:
                continue
            layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
            report[f"{os.path.basename(path)}:{name}"] = describe(layer)
            if n == 0 and name != "inspections":   # thousands of case dots would hide the county
                render_layers.append(layer)
    order = ["lamps", "toilets", "roads", "zones", "built_up", "candidates", "residential", "green"]
    render_layers.sort(key=lambda lyr: order.index(lyr.name()) if lyr.name() in order else 99)
    settings = QgsMapSettings()
    settings.setLayers(render_layers)
    extent = QgsRectangle()
    framing = [lyr for lyr in render_layers if lyr.name() == "built_up"] or render_layers
    for lyr in framing:   # the built-up area fills the picture
        extent.combineExtentWith(lyr.extent())
    extent.scale(1.05)
    settings.setDestinationCrs(render_layers[0].crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(1400, 1100))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(png, "PNG")
    with open(out_json, "w", encoding="utf-8") as fh:
        json.dump(report, fh, ensure_ascii=False, indent=1)
    sys.stdout.flush()
    os._exit(0)   # QGIS 3.22 can crash tearing down layers at exit; everything is written by now


if __name__ == "__main__":
    main()
