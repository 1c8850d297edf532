"""Copy an SQLite store into an empty PostgreSQL store (``phonepresence migrate-store``).

Both stores are first brought to this program's schema (as a start would), so their tables and
columns are the same; the copy then reads the tables and columns from SQLite's catalogue rather
than from a list here, so a table added by a later migration is copied without touching this.
Everything is written in one PostgreSQL transaction: an error leaves the target as it was.
"""

from __future__ import annotations

from pathlib import Path

from store.db import Store
from store.postgres import PostgresStore


class CopyRefused(Exception):
    """The copy cannot be done; nothing was written."""


async def copy_sqlite_to_postgres(source: Path, url: str, password: str | None = None) -> dict[str, int]:
    """Rows copied per table."""
    if not source.is_file():
        raise CopyRefused(f"{source}: no such SQLite store")
    async with Store(source) as sqlite, PostgresStore(url, password) as target:
        db = sqlite.db
        async with db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_version' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ) as cursor:
            tables = [str(name) for (name,) in await cursor.fetchall()]
        copied: dict[str, int] = {}
        async with target.pool.acquire() as connection, connection.transaction():
            target_tables = {
                str(r["tablename"])
                for r in await connection.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename != 'schema_version'"
                )
            }
            if set(tables) != target_tables:
                raise CopyRefused(
                    f"the stores' tables differ (SQLite: {', '.join(tables)}; "
                    f"PostgreSQL: {', '.join(sorted(target_tables))})"
                )
            for table in tables:
                # Names from SQLite's own catalogue, checked against PostgreSQL's above.
                if await connection.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):  # noqa: S608
                    raise CopyRefused(
                        f"{url}: table {table} is not empty; migrate-store only fills a new store"
                    )
            for table in tables:
                async with db.execute(f'PRAGMA table_info("{table}")') as cursor:
                    columns = [str(row[1]) for row in await cursor.fetchall()]
                names = ", ".join(f'"{c}"' for c in columns)
                async with db.execute(f'SELECT {names} FROM "{table}"') as cursor:  # noqa: S608
                    rows = [tuple(row) for row in await cursor.fetchall()]
                if rows:
                    await connection.copy_records_to_table(table, records=rows, columns=columns)
                copied[table] = len(rows)
        return copied
