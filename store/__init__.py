"""Persistent state: SQLite through aiosqlite (:mod:`store.db`, the default) or PostgreSQL through
asyncpg (:mod:`store.postgres`). All SQL of the project lives in this package."""

from store.api import StateStore, is_postgres_url, open_store
from store.db import SchemaError, Store

__all__ = ["SchemaError", "StateStore", "Store", "is_postgres_url", "open_store"]
