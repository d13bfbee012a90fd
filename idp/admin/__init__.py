"""Académie administration: relying parties and establishments."""


class InvalidInput(ValueError):
    """Bad administrator input, with a message fit to show as is."""
