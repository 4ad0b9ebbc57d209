"""The colours the service draws series (the version chart) and classes (the labelling tool) in."""

from __future__ import annotations

COLOURS = ("#ef6c00", "#1565c0", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#ad1457")


def colour(index: int) -> str:
    """The colour of the `index`-th series or class (0-based), repeating after eight."""
    return COLOURS[index % len(COLOURS)]
