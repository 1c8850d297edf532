"""Persistent state (SQLite through aiosqlite). All SQL of the project lives in :mod:`store.db`."""

from store.db import SchemaError, Store

__all__ = ["SchemaError", "Store"]
