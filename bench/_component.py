"""The component (``App``) in its own process, for the benchmarks; driven over stdin.

``python -m bench._component CONFIG.json [--profile OUT.txt]``. CONFIG.json holds the TOML
document as JSON plus the two secrets. Prints JSON lines on stdout as the app reaches each state
(``online``, ``provisioned``, ``synced`` with the resync count), with ``time.monotonic_ns``.
With PHONEPRESENCE_BENCH_TRACE=1 in the environment, it also prints a ``span`` line (name,
start and end ``t_ns``) for each phase of the start (see :func:`trace_start`): a bench prints
the timeline to find the critical path. Commands on stdin: ``capture PATH`` (from now on, tee
every batch the publisher writes to PATH: the bytes the ceiling sender replays), ``uncapture``,
``stop``. With ``--profile``, pyinstrument samples the whole run and its text report is written
at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import xmpp_component.app as app_module
from presence.sources.wazo.calld import CalldClient
from presence.sources.wazo.chatd import ChatdClient
from presence.sources.wazo.confd import ConfdClient
from presence.sources.wazo.events import EventStream
from xmpp_component.app import App
from xmpp_component.call_rules import CallRules
from xmpp_component.config import parse_config
from xmpp_component.im_presence import ImPresenceIntake
from xmpp_component.phone_jids import PhoneJidService
from xmpp_component.publisher import Publisher
from xmpp_component.subscriptions import PhoneSubscriptions


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"ev": event, "t_ns": time.monotonic_ns(), **fields}), flush=True)


def _spanned(name: str, func: Any) -> Any:
    """``func`` (sync or async) printing a ``span`` line when each call ends."""
    if asyncio.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic_ns()
            try:
                return await func(*args, **kwargs)
            finally:
                emit("span", name=name, start_ns=start)

        return run_async

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic_ns()
        try:
            return func(*args, **kwargs)
        finally:
            emit("span", name=name, start_ns=start)

    return run


def trace_start() -> None:
    """Wrap the steps of a start (reads of Wazo, provisioning, the resend) to time them."""
    targets: list[tuple[Any, str]] = [
        (App, "provision"),
        (App, "_build"),
        (ConfdClient, "list_users"),
        (ChatdClient, "list_presences"),
        (CalldClient, "list_calls"),
        (EventStream, "_resync"),
        (PhoneSubscriptions, "load"),
        (PhoneSubscriptions, "adopt"),
        (PhoneJidService, "enforce_policy"),
        (CallRules, "on_people"),
        (CallRules, "decide_later"),
        (ImPresenceIntake, "_provision"),
        (ImPresenceIntake, "_barrier"),
        (Publisher, "publish_all"),
        (Publisher, "_publish_rest"),
        (Publisher, "release"),
        (app_module, "build_people"),
    ]
    for owner, attribute in targets:
        name = f"{getattr(owner, '__name__', owner)}.{attribute}".rsplit(".", 2)[-2:]
        setattr(owner, attribute, _spanned(".".join(name), getattr(owner, attribute)))


async def monitor(app: App, capture: list[IO[bytes] | None]) -> None:
    while app.xmpp is None:  # noqa: ASYNC110  # App has no event for it
        await asyncio.sleep(0.001)
    xmpp = app.xmpp
    send = xmpp.send

    def tee(data: Any, *args: Any, **kwargs: Any) -> Any:
        out = capture[0]
        if out is not None and isinstance(data, str):
            out.write(data.encode())
        return send(data, *args, **kwargs)

    xmpp.send = tee  # type: ignore[method-assign]
    seen: set[str] = set()
    resyncs = 0
    # Polled every millisecond only while something is awaited: a 1 ms poll costs ~4 % of a core,
    # which the benchmarks would count as the component's CPU (it runs in its process) for the
    # whole time Prosody takes to drain a fan-out. Once online, provisioned and synchronised,
    # the monitor sleeps until the event stream's ``synced`` is cleared (a drop: the next resync
    # is awaited at 1 ms again), or 0.1 s to see a new Wazo client.
    wake = asyncio.Event()
    hooked: Any = None
    trace = bool(os.environ.get("PHONEPRESENCE_BENCH_TRACE"))
    next_sent = 1  # trace: a "sent" line at the first stanza, then every 50,000
    while True:
        if trace and app.publisher is not None and app.publisher.stanzas_sent >= next_sent:
            emit("sent", stanzas=app.publisher.stanzas_sent)
            next_sent = (app.publisher.stanzas_sent // 50_000 + 1) * 50_000
        if trace and "learnt" not in seen and app.intake is not None and app.intake.learnt.is_set():
            seen.add("learnt")
            emit("learnt")
        if "online" not in seen and app.supervisor is not None and app.supervisor.online.is_set():
            seen.add("online")
            emit("online")
        if "provisioned" not in seen and app.provisioned.is_set():
            seen.add("provisioned")
            emit("provisioned", users=len(app.people))
        events = app.wazo.events if app.wazo is not None else None
        if events is not None and events.resyncs != resyncs:
            resyncs = events.resyncs
            emit("synced", resyncs=resyncs)
        if events is not None and events is not hooked:
            hooked = events
            clear = events.synced.clear

            def on_clear(clear: Any = clear) -> None:
                clear()
                wake.set()

            events.synced.clear = on_clear  # type: ignore[method-assign]
        if {"online", "provisioned"} <= seen and events is not None and events.synced.is_set():
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await wake.wait()
        else:
            await asyncio.sleep(0.001)


async def run(config_path: Path, capture_path: Path | None) -> None:
    document = json.loads(config_path.read_text())
    env = document.pop("env")
    app = App(parse_config(document, env))
    loop = asyncio.get_running_loop()
    capture: list[IO[bytes] | None] = [open(capture_path, "wb") if capture_path else None]  # noqa: ASYNC230, SIM115

    def command(line: str) -> None:
        words = line.split()
        if not words:
            return
        if words[0] == "stop":
            app.request_stop()
        elif words[0] == "capture":
            capture[0] = open(words[1], "wb")  # noqa: SIM115  # closed by uncapture
            emit("capturing")
        elif words[0] == "uncapture":
            if capture[0] is not None:
                capture[0].close()
                capture[0] = None
            emit("uncaptured", sent=app.publisher.stanzas_sent if app.publisher else 0)

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(command, line)
        loop.call_soon_threadsafe(app.request_stop)

    threading.Thread(target=read_stdin, daemon=True).start()
    watcher = asyncio.create_task(monitor(app, capture))
    try:
        await app.run(install_signal_handlers=True)
    finally:
        watcher.cancel()
        if capture[0] is not None:
            capture[0].close()
    emit("stopped")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--capture", type=Path, help="capture from the start (see the capture command)")
    args = parser.parse_args()
    emit("main")  # the imports are done
    if os.environ.get("PHONEPRESENCE_BENCH_TRACE"):
        trace_start()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    try:
        asyncio.run(run(args.config, args.capture))
    finally:
        if profiler is not None:
            profiler.stop()
            args.profile.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
