"""Orchestration: workspace → layers (read once) → analyses (computed once) → renders → an output folder."""

__all__: list[str] = []
