"""The store: the layer catalogue, targets, coordinate systems, importers, validation and the workspace.

Nothing here imports an analysis, a renderer or the command line.
"""

from civgis.store.catalogue import FieldSpec, LayerSpec, layer_spec, load_catalogue
from civgis.store.layers import Layers
from civgis.store.targets import Targets, load_targets
from civgis.store.workspace import LayerMissingError, Workspace, WorkspaceError

__all__ = ["FieldSpec", "LayerSpec", "Layers", "LayerMissingError", "Targets", "Workspace", "WorkspaceError",
           "layer_spec", "load_catalogue", "load_targets"]
