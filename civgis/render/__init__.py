"""Renderers: result objects in, files out — web maps, patrol maps, figures, workbooks, the report page.

Renderers read analyses' results and the store's catalogue (styles, labels); they never import
the run layer or the command line.
"""

__all__: list[str] = []
