"""Fidelo: an open-source, self-hostable loyalty platform."""

__version__ = "0.1.0"
