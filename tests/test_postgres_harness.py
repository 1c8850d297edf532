"""The PostgreSQL harness: a real server starts from a temp folder (also as root), each test gets
its own database, and a server that cannot start fails loudly."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from devservers.postgres import PostgresServer, ServerStartError

pytestmark = pytest.mark.server


async def test_each_test_gets_a_new_empty_database(postgres: PostgresServer) -> None:
    first, second = await postgres.new_database(), await postgres.new_database()
    assert first != second
    connection = await asyncpg.connect(first)
    try:
        await connection.execute("CREATE TABLE t (x INTEGER)")
        assert await connection.fetchval("SELECT current_setting('fsync')") == "off"
    finally:
        await connection.close()
    connection = await asyncpg.connect(second)
    try:
        assert await connection.fetchval("SELECT to_regclass('t')") is None
    finally:
        await connection.close()


def test_a_server_that_cannot_start_raises_with_its_log(tmp_path: Path, postgres: PostgresServer) -> None:
    taken = PostgresServer(tmp_path, port=postgres.port)  # the port is already the run's server's
    with pytest.raises(ServerStartError) as failure:
        taken.start(timeout=10)
    try:
        assert "PostgreSQL did not start" in str(failure.value)
        assert not taken.alive
    finally:
        taken.remove()
