"""Académie administration: relying parties."""


class InvalidInput(ValueError):
    """Bad administrator input, with a message fit to show as is."""
