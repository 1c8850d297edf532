"""The component in its own process for ``bench.rosters``, from any checkout of the code.

``python bench/_roster_component.py CONFIG.json --code DIR``: DIR is put first on ``sys.path``, so
the same driver runs this tree's code or an older commit's (the "before" baseline). Prints JSON
lines: ``session`` (handshake accepted), ``progress`` every second and ``rosters`` once the
roster writing of the connect is over (the component done, then a ping through the server
answered), each with the roster stanzas the component sent so far (gets, sets, items in the
sets) and ``time.monotonic_ns``. ``stop`` on stdin stops it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where bench/calendar.py shadows the
# standard library's calendar module (imported by email.utils, hence by aiohttp): drop it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import json
import logging
import threading
import time
from typing import Any

NS_ROSTER = "{jabber:iq:roster}query"


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"ev": event, "t_ns": time.monotonic_ns(), **fields}), flush=True)


def rosters_done(app: Any) -> bool:
    if hasattr(app, "rosters"):  # this tree: the sync counts its runs
        rosters = app.rosters
        running = rosters._running
        return bool(rosters.syncs >= 1 and (running is None or running.done()))
    # Before: rosters were written inside the intake's provisioning task of the connect.
    task = app.intake._provisioning
    return bool(app.provisioned.is_set() and task is not None and task.done())


async def monitor(app: Any) -> None:
    from slixmpp import Iq

    while app.xmpp is None or app.intake is None:  # noqa: ASYNC110  # App has no event for it
        await asyncio.sleep(0.001)
    xmpp = app.xmpp
    counts = {"gets": 0, "sets": 0, "items": 0}
    send = xmpp.send

    def counting(data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, Iq):
            query = data.xml.find(NS_ROSTER)
            if query is not None:
                if data["type"] == "get":
                    counts["gets"] += 1
                else:
                    counts["sets"] += 1
                    counts["items"] += len(query)
        return send(data, *args, **kwargs)

    xmpp.send = counting
    xmpp.add_event_handler("session_start", lambda _e: emit("session"))
    last = time.monotonic()
    while not rosters_done(app):
        await asyncio.sleep(0.01)
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            emit("progress", **counts)
    # Before, the next roster set left as soon as the server answered the first item of the last
    # one: a ping is answered only once the server has handled everything sent before it.
    from slixmpp import JID

    await xmpp.plugin["xep_0199"].send_ping(JID("example.test"), ifrom=JID(xmpp.boundjid.bare), timeout=3600)
    emit("rosters", **counts)


async def run(config_path: Path) -> None:
    from xmpp_component.app import App
    from xmpp_component.config import parse_config

    document = json.loads(config_path.read_text())
    env = document.pop("env")
    app = App(parse_config(document, env))
    loop = asyncio.get_running_loop()

    def read_stdin() -> None:
        for _line in sys.stdin:
            break
        loop.call_soon_threadsafe(app.request_stop)

    threading.Thread(target=read_stdin, daemon=True).start()
    watcher = asyncio.create_task(monitor(app))
    try:
        await app.run(install_signal_handlers=True)
    finally:
        watcher.cancel()
    emit("stopped")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--code", type=Path, required=True, help="checkout whose code to run")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code))
    level = json.loads(args.config.read_text()).get("logging", {}).get("level", "warning")
    logging.basicConfig(level=level.upper(), stream=sys.stderr)
    asyncio.run(run(args.config))


if __name__ == "__main__":
    main()
