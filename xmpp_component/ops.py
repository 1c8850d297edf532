"""The HTTP ops endpoint: ``/metrics`` (Prometheus text format), ``/healthz`` and ``/readyz``.

Counters that only the app can see happen (Wazo events by type, commands, event-to-publish
latency) live in :class:`Metrics`; figures the parts already keep (presences sent, reconnections,
users, subscriptions) are read at scrape time by :class:`_LiveFigures`, so nothing is counted twice.
Each app has its own registry: several apps in one process (tests) never mix their figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from xmpp_component.config import OpsSection

if TYPE_CHECKING:
    from xmpp_component.app import App

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.wazo_events = Counter(
            "phonepresence_wazo_events",
            "Wazo events received, by type",
            ["type"],
            registry=self.registry,
        )
        self._wazo_event_counts: dict[type, Any] = {}
        self.commands = Counter(
            "phonepresence_commands",
            "Commands started (ad-hoc or chat), by name and outcome of their first step",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.event_to_publish = Histogram(
            "phonepresence_event_to_publish_seconds",
            "From a Wazo event's arrival to the presences it changed being written",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

        self.originations = Counter(
            "phonepresence_originations",
            "Click-to-call originations asked of Wazo, by outcome (placed, refused)",
            ["outcome"],
            registry=self.registry,
        )

        # Per source of the directory and the calendar (source: wazo, ldap, company, personal,
        # calendar; kind: search, sync, poll).
        self.source_requests = Counter(
            "phonepresence_source_requests",
            "Requests to a directory or calendar source (searches, address book syncs, calendar polls)",
            ["source", "kind"],
            registry=self.registry,
        )
        self.source_errors = Counter(
            "phonepresence_source_errors",
            "Requests to a directory or calendar source that failed or missed the deadline",
            ["source", "kind"],
            registry=self.registry,
        )
        self.source_seconds = Histogram(
            "phonepresence_source_seconds",
            "Time a directory or calendar source took to answer (or fail)",
            ["source", "kind"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        # The labelled children counted at each click-to-call: prometheus_client's labels()
        # checks and looks up the labels under a lock at every call.
        self._originations: dict[str, Any] = {}
        self._commands: dict[tuple[str, str], Any] = {}

    def source_known(self, source: str, kind: str) -> None:
        """A configured source shows in /metrics at zero before its first request."""
        self.source_requests.labels(source=source, kind=kind)
        self.source_errors.labels(source=source, kind=kind)
        self.source_seconds.labels(source=source, kind=kind)

    def source_done(self, source: str, kind: str, seconds: float, error: str | None) -> None:
        self.source_requests.labels(source=source, kind=kind).inc()
        if error is not None:
            self.source_errors.labels(source=source, kind=kind).inc()
        self.source_seconds.labels(source=source, kind=kind).observe(seconds)

    def origination(self, outcome: str) -> None:
        child = self._originations.get(outcome)
        if child is None:
            child = self._originations[outcome] = self.originations.labels(outcome=outcome)
        child.inc()

    def command_started(self, command: str, outcome: str) -> None:
        child = self._commands.get((command, outcome))
        if child is None:
            child = self._commands[command, outcome] = self.commands.labels(command=command, outcome=outcome)
        child.inc()

    def count_wazo_event(self, kind: type) -> None:
        """One more Wazo event of class ``kind``; its labelled child is looked up once per class
        (``labels()`` costs more than the increment, at every event)."""
        child = self._wazo_event_counts.get(kind)
        if child is None:
            child = self._wazo_event_counts[kind] = self.wazo_events.labels(type=kind.__name__)
        child.inc()


class _LiveFigures:
    """Figures read from the running parts at each scrape."""

    def __init__(self, app: App) -> None:
        self.app = app

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: the names are known only at collect time

    def collect(self) -> Iterator[Metric]:
        app = self.app
        sent = app.publisher.stanzas_sent if app.publisher is not None else 0
        yield CounterMetricFamily("phonepresence_presences_sent", "Presence stanzas written", value=sent)
        sup = app.supervisor
        xmpp_reconnects = max(sup.sessions - 1, 0) if sup is not None else 0
        yield CounterMetricFamily(
            "phonepresence_xmpp_reconnects",
            "XMPP component streams opened after the first",
            value=xmpp_reconnects,
        )
        events = app.wazo.events if app.wazo is not None else None
        wazo_reconnects = max(events.connections - 1, 0) if events is not None else 0
        yield CounterMetricFamily(
            "phonepresence_wazo_reconnects",
            "Wazo event stream connections after the first (of the current Wazo client)",
            value=wazo_reconnects,
        )
        yield GaugeMetricFamily("phonepresence_users", "Wazo users with a phone JID", value=len(app.people))
        yield GaugeMetricFamily(
            "phonepresence_users_unmatched", "Wazo users left without a phone JID", value=len(app.unmatched)
        )
        subs = app.subscriptions.count() if app.subscriptions is not None else 0
        yield GaugeMetricFamily("phonepresence_subscriptions", "Stored phone-JID subscriptions", value=subs)
        up = 1 if sup is not None and sup.online.is_set() else 0
        yield GaugeMetricFamily("phonepresence_xmpp_up", "1 while the XMPP stream is up", value=up)
        active = 0 if app.role == "standby" else 1
        yield GaugeMetricFamily(
            "phonepresence_active", "1 unless this instance is the standby of a pair", value=active
        )
        synced = 1 if events is not None and events.synced.is_set() else 0
        yield GaugeMetricFamily(
            "phonepresence_wazo_up", "1 while the Wazo event stream is up and resynchronised", value=synced
        )


def not_ready_reasons(app: App) -> list[str]:
    if app.role == "standby":
        return ["standby (another instance holds the active lock)"]
    reasons = []
    if app.supervisor is None or not app.supervisor.online.is_set():
        reasons.append("XMPP link down")
    if app.config.wazo.enabled:
        wazo = app.wazo
        if wazo is None or wazo.events is None or not wazo.events.synced.is_set():
            reasons.append("Wazo event stream not synchronised")
    return reasons


class OpsServer:
    """aiohttp server for the ops routes; a port already taken is logged, the component runs on."""

    def __init__(self, app: App, settings: OpsSection) -> None:
        self.app = app
        self.settings = settings
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        app.metrics.registry.register(_LiveFigures(app))

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_get("/metrics", self._metrics)
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.settings.bind, self.settings.port)
            await site.start()
        except OSError as error:
            await runner.cleanup()
            log.error(
                "ops.port: cannot listen on %s:%d (%s); running without /metrics, /healthz, /readyz",
                self.settings.bind,
                self.settings.port,
                error.strerror or error,
            )
            return
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # the real one when the setting is 0
        log.info("ops endpoint on http://%s:%d/metrics", self.settings.bind, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.app.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        # Answering at all is the check: the handler runs on the component's event loop. A
        # standby is healthy too; it says so, for whoever looks at which one is active.
        return web.Response(text="standby\n" if self.app.role == "standby" else "ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        reasons = not_ready_reasons(self.app)
        if reasons:
            return web.Response(status=503, text="not ready: " + "; ".join(reasons) + "\n")
        return web.Response(text="ready\n")


class PublishLatency:
    """Times each Wazo event to the end of the publisher's flush of the changes it made.

    The publisher flushes with ``call_soon`` from its hub listener; this listener is added after it
    and schedules its own ``call_soon``, which therefore runs after that flush.
    """

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._event_started: float | None = None
        self._pending = False

    def event_arrived(self) -> None:
        self._event_started = time.perf_counter()

    def on_change(self, _user: str, _presence: Any) -> None:
        started = self._event_started
        if started is None or self._pending:
            return
        self._pending = True

        def observe() -> None:
            self._pending = False
            self._histogram.observe(time.perf_counter() - started)

        asyncio.get_running_loop().call_soon(observe)

    def event_done(self) -> None:
        self._event_started = None
