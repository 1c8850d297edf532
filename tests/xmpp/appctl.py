"""Run the component in-process against a test Prosody and wait for its states."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from devservers.ejabberd import EjabberdServer
from devservers.prosody import ProsodyServer
from xmpp_component.app import App
from xmpp_component.config import Config, parse_config


def component_config(
    server: ProsodyServer | EjabberdServer,
    store: Path,
    env: dict[str, str] | None = None,
    **sections: dict[str, object],
) -> Config:
    """The component pointed at a test server, reconnecting fast; extra TOML sections as keywords."""
    document: dict[str, dict[str, object]] = {
        "component": {
            "jid": server.component,
            "server_port": server.component_port,
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.5,
        },
        "store": {"path": str(store)},
        # No fixed port: several apps (and other test runs) share this machine.
        "ops": {"enabled": False},
    }
    for name, values in sections.items():
        document[name] = {**document.get(name, {}), **values}
    return parse_config(document, {"PHONEPRESENCE_COMPONENT_SECRET": server.component_secret, **(env or {})})


def watchers_of(app: App, alias: str) -> set[str]:
    """Who is subscribed to the phone JID ``alias``@component, whoever it belongs to."""
    assert app.subscriptions is not None
    return {subscriber for name, subscriber, _uuid in app.subscriptions.rows() if name == alias}


async def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_app(config: Config) -> AsyncIterator[App]:
    app = App(config)
    task = asyncio.create_task(app.run(install_signal_handlers=False))
    await asyncio.wait_for(app.started.wait(), 10)
    try:
        yield app
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 15)


async def wait_online(app: App, sessions: int = 1, timeout: float = 10.0) -> None:
    supervisor = app.supervisor
    assert supervisor is not None
    await wait_until(
        lambda: supervisor.online.is_set() and supervisor.sessions >= sessions,
        timeout,
        f"component session #{sessions}",
    )
