"""Analyses: GeoDataFrames and arrays in, result objects out.

Each module is one concept (indicators, the walking network, the zone audit, zones, the case
ledger, hot spots, trends, greening, scale-out). They read the store and never import the
renderers, the run layer, the command line, folium or matplotlib.
"""

__all__: list[str] = []
