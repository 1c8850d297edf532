"""Shared fixtures: real servers on loopback, started and stopped by the tests themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from slixmpp import ClientXMPP

from devservers.ejabberd import EjabberdServer
from devservers.postgres import PostgresServer
from devservers.prosody import ProsodyServer
from devservers.radicale import RadicaleServer
from devservers.slapd import SlapdServer
from devservers.xmpp_client import connect_client, disconnect_client

ClientFactory = Callable[[str], Awaitable[ClientXMPP]]


def _start_prosody(tmp_path_factory: pytest.TempPathFactory, privileged: bool) -> Iterator[ProsodyServer]:
    server = ProsodyServer(tmp_path_factory.mktemp("prosody"), privileged=privileged)
    server.start()  # raises (failing the tests) if Prosody cannot start: never a skip
    try:
        server.register_users()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """Prosody in subscription mode (no privileges), shared by the tests of one module."""
    yield from _start_prosody(tmp_path_factory, privileged=False)


@pytest.fixture(scope="module")
def prosody_privileged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """Prosody granting the component XEP-0356 roster=both and presence=managed_entity."""
    yield from _start_prosody(tmp_path_factory, privileged=True)


@pytest.fixture(scope="module")
def ejabberd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdServer]:
    """ejabberd 23.01 (subscription mode only: its XEP-0356 support is too old), one per module."""
    server = EjabberdServer(tmp_path_factory.mktemp("ejabberd"))
    server.start()  # raises (failing the tests) if ejabberd cannot start: never a skip
    try:
        server.register_users()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """Radicale (CalDAV) with alice, bob, carol and a service account reading every calendar."""
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"))
    server.start()  # raises (failing the tests) if Radicale cannot start: never a skip
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    """OpenLDAP slapd with 1,000+ people (non-ASCII names, AD-like phone attributes)."""
    server = SlapdServer(tmp_path_factory.mktemp("slapd"))
    server.start()  # raises (failing the tests) if slapd cannot start: never a skip
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """PostgreSQL for the whole run (initdb takes a while); each test takes a new database."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()  # raises (failing the tests) if PostgreSQL cannot start: never a skip
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
async def postgres_url(postgres: PostgresServer) -> str:
    """The URL of a new, empty database on the run's PostgreSQL."""
    return await postgres.new_database()


StoreOpener = Callable[[], Any]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.server)])
async def store_opener(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreOpener:
    """Runs a store test on both stores: ``async with store_opener() as store`` opens a store on the
    test's own database (SQLite file or PostgreSQL database), the same one at each call."""
    from store.db import Store
    from store.postgres import PostgresStore

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "db.sqlite"
        return lambda: Store(path)
    url = await request.getfixturevalue("postgres").new_database()
    return lambda: PostgresStore(url)


@pytest.fixture(scope="module", params=["prosody", "ejabberd"])
def xmpp_server(request: pytest.FixtureRequest) -> ProsodyServer | EjabberdServer:
    """Runs a test against both servers; each is started once per module, when first needed."""
    server: ProsodyServer | EjabberdServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture
async def xmpp_client(prosody: ProsodyServer) -> AsyncIterator[ClientFactory]:
    """Log a registered user into the module's Prosody: ``alice = await xmpp_client("alice")``."""
    clients: list[ClientXMPP] = []

    async def login(user: str) -> ClientXMPP:
        client = await connect_client(f"{user}@{prosody.domain}", prosody.users[user], prosody.c2s_port)
        clients.append(client)
        return client

    yield login
    for client in clients:
        await disconnect_client(client)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """On failure, attach the log of every server the test used to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            tail = getattr(value, "log_tail", None)
            if callable(tail):
                report.sections.append((f"server log ({name})", tail()))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say when Wazo spec checks inside behaviour tests were left out (no spec folder)."""
    from tests.wazo_specs import SKIPPED_INLINE_CHECKS, SPECS_MISSING_REASON

    if SKIPPED_INLINE_CHECKS[0]:
        terminalreporter.write_sep("=", "Wazo spec cross-checks not run", yellow=True)
        terminalreporter.write_line(
            f"{SKIPPED_INLINE_CHECKS[0]} body checks inside behaviour tests were left out "
            f"(the behaviour assertions ran): {SPECS_MISSING_REASON}"
        )
