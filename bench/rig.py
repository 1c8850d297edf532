"""What every benchmark needs: an XMPP server (Prosody, or ejabberd with ``Rig(server="ejabberd")``)
with many accounts, the simulator and the component in their own processes, raw-socket readers,
slixmpp clients, a raw component sender, and the statistics and printing (one table plus JSON
lines, min/median/max over runs).

All servers bind 127.0.0.1 and are started and stopped (by PID) here; ejabberd's CPU time is
read from its Erlang VM (beam.smp), not from the ejabberdctl shell that waits for it. Timestamps are
``time.monotonic_ns`` (CLOCK_MONOTONIC: the same clock in every process of the machine).

CPU affinity (``Rig(pin=True)``, the default; the benches' ``--no-pin`` turns it off): the XMPP
server gets a CPU of its own, as in production where the chat server does not share its CPU with
the PBX and the load generator. Every thread of the server's processes (Prosody; ejabberd's
ejabberdctl shell, Erlang VM and helpers) is pinned to the first allowed CPU, and ejabberd's VM
runs as many schedulers as it has CPUs (``+S 1:1 +SDcpu 1:1``) instead of spinning one per core of
the machine; the bench process (readers, latency clients, raw ceiling sender) is pinned to the
other CPUs, and the simulator and the component inherit that at spawn. The same split holds in
the component run and in the ceiling run, so their ratio compares the component with a raw
sender, not a server with one core with a server with two. Off (and said so) with fewer than 2
CPUs. The test harness (devservers/, tests/) never pins: only the benches do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import psutil

from bench._sim import SERVICE_PASSWORD, SERVICE_USER, user_name
from bench.affinity import Affinity, BenchEjabberd, erl_scheduler_flags, pin_threads
from devservers.ejabberd import EjabberdServer
from devservers.prosody import ProsodyServer
from devservers.xmpp_client import connect_client, disconnect_client
from store import Store

DOMAIN = "example.test"
COMPONENT = "phone.example.test"
SECRET = "bench-component-secret"
PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("prosody", "ejabberd")
XmppServer = ProsodyServer | EjabberdServer

# --- statistics and output ---------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def spread(values: Iterable[float]) -> tuple[float, float, float]:
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return min(vals), statistics.median(vals), max(vals)


def report(
    bench: str, title: str, runs: list[dict[str, Any]], figures: list[tuple[str, str]], extra: str = ""
) -> dict[str, tuple[float, float, float]]:
    """Print per-run JSON lines, a table (min / median / max over runs) and summary JSON lines."""
    for number, run in enumerate(runs, 1):
        print(json.dumps({"bench": bench, "run": number, **run}), flush=True)
    print()
    print(f"{title}  ({len(runs)} runs)")
    if extra:
        print(extra)
    width = max(len(label) for _key, label in figures) + 2
    print(f"{'figure':<{width}} {'min':>11} {'median':>11} {'max':>11}")
    summary = {}
    for key, label in figures:
        lo, mid, hi = spread(r[key] for r in runs if key in r)
        summary[key] = (lo, mid, hi)
        print(f"{label:<{width}} {lo:11.3f} {mid:11.3f} {hi:11.3f}")
    for key, _label in figures:
        lo, mid, hi = summary[key]
        print(json.dumps({"bench": bench, "figure": key, "min": lo, "median": mid, "max": hi}), flush=True)
    print(flush=True)
    return summary


def verdict(bench: str, target: str, value: float, ok: bool) -> dict[str, Any]:
    line = {"bench": bench, "target": target, "measured": round(value, 3), "met": ok}
    print(f"TARGET {target}: measured {value:.3f} -> {'MET' if ok else 'NOT MET'}")
    print(json.dumps(line), flush=True)
    return line


def machine() -> str:
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )


# --- processes ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return float("nan")
    return times.user + times.system


class Child:
    """A Python child process speaking JSON lines on stdout and taking commands on stdin."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.started_ns = time.monotonic_ns()
        self._log = open(log, "ab")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().run_in_executor(
            None, self._pump, asyncio.get_running_loop()
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                loop.call_soon_threadsafe(self._got, json.loads(raw))

    def _got(self, line: dict[str, Any]) -> None:
        self.events.append(line)
        self.lines.put_nowait(line)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    async def expect(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        for line in self.events:
            if predicate(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"child {self.proc.args} exited with {self.proc.returncode}")
            try:
                line = await asyncio.wait_for(
                    self.lines.get(), max(0.01, min(0.5, deadline - time.monotonic()))
                )
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"child {self.proc.args[:3]}: nothing matching after {timeout} s"
                    ) from None
                continue
            if predicate(line):
                return line

    async def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.send("stop")
                self.send('{"cmd": "quit"}')
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), timeout)
            except TimeoutError:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 2)
        self._log.close()


class Simulator(Child):
    def __init__(self, workdir: Path, users: int) -> None:
        super().__init__(
            [PY, "-m", "bench._sim", "--users", str(users), "--domain", DOMAIN], workdir / "sim.log"
        )
        self.base_url = ""

    async def ready(self) -> None:
        line = await self.expect(lambda line: line.get("ready", False), 120)
        self.base_url = line["base_url"]

    async def command(self, timeout: float = 300, **command: Any) -> dict[str, Any]:
        self.events.clear()
        while not self.lines.empty():
            self.lines.get_nowait()
        self.send(json.dumps(command))
        return await self.expect(lambda line: "ok" in line, timeout)


class Component(Child):
    def __init__(
        self, workdir: Path, config: dict[str, Any], profile: Path | None = None, capture: Path | None = None
    ) -> None:
        path = workdir / "component.json"
        path.write_text(json.dumps(config))
        argv = [PY, "-m", "bench._component", str(path)]
        if profile is not None:
            argv += ["--profile", str(profile)]
        if capture is not None:
            argv += ["--capture", str(capture)]
        super().__init__(argv, workdir / "component.log")

    async def wait(self, event: str, timeout: float = 120, **fields: Any) -> dict[str, Any]:
        return await self.expect(
            lambda line: line.get("ev") == event and all(line.get(k) == v for k, v in fields.items()), timeout
        )


def component_config(server: XmppServer, sim_url: str, store: Path) -> dict[str, Any]:
    return {
        "component": {
            "jid": COMPONENT,
            "server_port": server.component_port,
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.5,
        },
        "store": {"path": str(store)},
        "wazo": {"enabled": True, "base_url": sim_url, "username": SERVICE_USER},
        "presence": {"privilege_grace": 0.05},
        "logging": {"level": "warning"},
        "env": {
            "PHONEPRESENCE_COMPONENT_SECRET": SECRET,
            "PHONEPRESENCE_WAZO_PASSWORD": SERVICE_PASSWORD,
        },
    }


# --- Prosody with many accounts ----------------------------------------------------------------


def _encode(part: str) -> str:
    """Prosody's datamanager file-name encoding: every non-alphanumeric byte as %xx."""
    return "".join(c if c.isalnum() else f"%{ord(c):02x}" for c in part)


def start_prosody(
    workdir: Path, accounts: dict[str, str], component_in_rosters: Iterable[str] = ()
) -> ProsodyServer:
    """Prosody with ``accounts`` written straight into its internal storage (prosodyctl takes
    ~25 ms per account), then started. Fails loudly if Prosody does not start.

    The accounts in ``component_in_rosters`` have approved the component's subscription (a roster
    item with subscription "from"): the server answers its probes and tells it their logins."""
    server = ProsodyServer(workdir, component=COMPONENT, component_secret=SECRET, users={}, other_users={})
    folder = workdir / "data" / _encode(DOMAIN) / "accounts"
    folder.mkdir(parents=True, exist_ok=True)
    for user, password in accounts.items():
        (folder / f"{_encode(user)}.dat").write_text(f'return {{\n\t["password"] = "{password}";\n}};\n')
    rosters = workdir / "data" / _encode(DOMAIN) / "roster"
    rosters.mkdir(parents=True, exist_ok=True)
    for user in component_in_rosters:
        (rosters / f"{_encode(user)}.dat").write_text(
            "return {\n"
            '\t[false] = { ["version"] = 1; ["pending"] = {}; };\n'
            f'\t["{COMPONENT}"] = {{ ["subscription"] = "from"; ["groups"] = {{}}; }};\n'
            "};\n"
        )
    server.start()
    return server


# --- ejabberd with many accounts ---------------------------------------------------------------


def start_ejabberd(
    workdir: Path, accounts: dict[str, str], component_in_rosters: Iterable[str] = (), erl_flags: str = ""
) -> EjabberdServer:
    """ejabberd started, then ``accounts`` (and the rosters, as in :func:`start_prosody`) imported
    in ONE ``ejabberdctl import_piefxis`` call (XEP-0227). Each ejabberdctl call boots an Erlang
    VM (0.5 s of CPU idle, 20-35 s on a busy 2-core machine: devservers/ejabberd.py), so one call
    for every account beats ``register`` per account (25 calls); in-band registration would need
    mod_register opened to the bench and still could not approve a subscription. Mnesia has no
    file layout to write to beforehand, as Prosody's storage has. Stopped again (by PID) if
    anything fails. ``erl_flags``: extra flags for its Erlang VM (e.g. ``+S 1:1``)."""
    server = BenchEjabberd(
        workdir, component=COMPONENT, component_secret=SECRET, users={}, erl_flags=erl_flags
    )
    server.start()
    try:
        approved = set(component_in_rosters)
        roster = (
            f"<query xmlns='jabber:iq:roster'><item jid={quoteattr(COMPONENT)} subscription='from'/></query>"
        )
        users = "".join(
            f"<user name={quoteattr(user)} password={quoteattr(password)}>"
            f"{roster if user in approved else ''}</user>"
            for user, password in accounts.items()
        )
        document = server.rundir / "accounts.xml"  # the rundir is readable by the ejabberd user
        document.write_text(
            "<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0'>"
            f"<host jid={quoteattr(DOMAIN)}>{users}</host></server-data>"
        )
        server.ctl("import_piefxis", str(document))
    except BaseException:
        server.discard()
        raise
    return server


# --- raw XMPP ----------------------------------------------------------------------------------

_PHONE_FROM = f"@{COMPONENT}/phone".encode()
_FROM = re.compile(rb"from=['\"]([^@'\"]+)@" + re.escape(COMPONENT.encode()) + rb"/phone['\"]")
_STATE = re.compile(rb" state=['\"]([a-z_]+)['\"]")


class RawStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    async def until(self, marker: bytes, timeout: float = 10) -> bytes:
        async with asyncio.timeout(timeout):
            while marker not in self.buffer:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"stream closed waiting for {marker!r}: {self.buffer[-300:]!r}")
                self.buffer += chunk
        end = self.buffer.index(marker) + len(marker)
        head, self.buffer = self.buffer[:end], self.buffer[end:]
        return head


class RawReader:
    """A subscriber logged in over a plain socket (SASL PLAIN): counts the presences it receives
    from the component's JIDs, and with ``track`` keeps each owner's last ``state``."""

    def __init__(self, user: str, password: str, track: bool = False) -> None:
        self.user = user
        self.password = password
        self.track = track
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0
        self.states: dict[bytes, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self._stream: RawStream | None = None

    def reset(self) -> None:
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0

    async def connect(self, port: int) -> None:
        stream = RawStream(*await asyncio.open_connection("127.0.0.1", port))
        header = (
            f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        ).encode()
        stream.writer.write(header)
        await stream.until(b"</stream:features>")
        token = base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()
        stream.writer.write(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>".encode()
        )
        answer = await stream.until(b">")
        if b"success" not in answer:
            raise ConnectionError(f"{self.user}: SASL failed: {answer!r} {stream.buffer!r}")
        stream.writer.write(header)
        await stream.until(b"</stream:features>")
        stream.writer.write(
            b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<resource>raw</resource></bind></iq>"
        )
        await stream.until(b"</iq>")
        stream.writer.write(b"<presence/>")
        self._stream = stream
        self._task = asyncio.create_task(self._read(stream))

    async def _read(self, stream: RawStream) -> None:
        pending = stream.buffer
        stream.buffer = b""
        read = stream.reader.read
        marker = _PHONE_FROM
        keep = len(marker) - 1
        while True:
            if self.track:
                *complete, pending = pending.split(b"</presence>")
                got = 0
                for stanza in complete:
                    owner = _FROM.search(stanza)
                    if owner is None:
                        continue
                    got += 1
                    state = _STATE.search(stanza)
                    self.states[owner.group(1)] = state.group(1) if state else b""
            else:
                got = pending.count(marker)
                pending = pending[-keep:]
            if got:
                now = time.monotonic_ns()
                if not self.count:
                    self.first_ns = now
                self.count += got
                self.last_ns = now
            chunk = await read(262144)
            if not chunk:
                return
            pending += chunk

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.writer.write(b"</stream:stream>")
                self._stream.writer.close()


async def raw_component(port: int) -> RawStream:
    """A hand-written XEP-0114 connection as the component's JID (the ceiling sender)."""
    stream = RawStream(*await asyncio.open_connection("127.0.0.1", port))
    stream.writer.write(
        f"<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' "
        f"to='{COMPONENT}'>".encode()
    )
    head = await stream.until(b">", 10)
    while b"stream:stream" not in head:
        head = await stream.until(b">", 10)
    match = re.search(rb"id=['\"]([^'\"]+)['\"]", head)
    assert match is not None, head
    digest = hashlib.sha1(match.group(1) + SECRET.encode()).hexdigest()  # noqa: S324  # XEP-0114
    stream.writer.write(f"<handshake>{digest}</handshake>".encode())
    answer = await stream.until(b">", 10)
    if b"handshake" not in answer:
        raise ConnectionError(f"component handshake refused: {answer!r}")
    return stream


async def close_raw_component(stream: RawStream) -> None:
    stream.writer.write(b"</stream:stream>")
    await stream.writer.drain()
    stream.writer.close()
    with contextlib.suppress(Exception):
        await stream.writer.wait_closed()


# --- slixmpp latency clients -------------------------------------------------------------------


class LatencyClient:
    """A real slixmpp client; records (owner, state, arrival ns) of every component presence."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.arrivals: list[tuple[str, str, int]] = []
        self.client: Any = None

    async def connect(self, port: int) -> None:
        self.client = await connect_client(f"{self.user}@{DOMAIN}", self.password, port)
        self.client.add_event_handler("presence", self._on_presence)
        self.client.send_presence()

    def _on_presence(self, pres: Any) -> None:
        now = time.monotonic_ns()
        frm = pres["from"]
        if frm.domain != COMPONENT:
            return
        phone = pres.xml.find("{urn:phonepresence:0}phone")
        state = phone.get("state", "") if phone is not None else ""
        self.arrivals.append((frm.user, state, now))

    async def close(self) -> None:
        if self.client is not None:
            await disconnect_client(self.client)


def expected_state(registered: bool) -> str:
    """What a user with no chat client shows: the phone alone (reachable) or nothing (offline)."""
    return "reachable_by_phone" if registered else "offline"


def read_emits(path: Path) -> list[tuple[int, int, bool]]:
    out = []
    for line in path.read_text().splitlines():
        t, index, registered = line.split()
        out.append((int(t), int(index), registered == "1"))
    return out


def match_latencies(
    emits: list[tuple[int, int, bool]], arrivals: list[tuple[str, str, int]], watched: Callable[[int], bool]
) -> tuple[list[float], int]:
    """Latency (ms) of each emitted change of a watched user: emission to the first later arrival
    of that user's new state at the client. Returns (latencies, changes never seen)."""
    by_owner: dict[str, list[tuple[str, int]]] = {}
    for owner, state, t in arrivals:
        by_owner.setdefault(owner, []).append((state, t))
    cursor: dict[str, int] = {}
    latencies: list[float] = []
    lost = 0
    for t_emit, index, registered in emits:
        if not watched(index):
            continue
        owner = user_name(index)
        want = expected_state(registered)
        seq = by_owner.get(owner, [])
        i = cursor.get(owner, 0)
        while i < len(seq) and (seq[i][1] < t_emit or seq[i][0] != want):
            i += 1
        if i < len(seq):
            latencies.append((seq[i][1] - t_emit) / 1e6)
            cursor[owner] = i + 1
        else:
            lost += 1
            cursor[owner] = i
    return latencies, lost


# --- the store ---------------------------------------------------------------------------------


async def make_store(
    path: Path,
    users: int,
    subscriptions: dict[str, Callable[[int], bool]],
    chat_accounts: Callable[[int], bool] = lambda _i: False,
) -> int:
    """A store with every subscriber (bare JID) -> the users it watches, as the component leaves
    it on a running site (the steady state): chat presence approved by the users with a chat
    account (``chat_accounts``, by user index), the others asked and never answering ("pending":
    they have no account to answer with), and its copy of Wazo's users. Bulk SQL after the
    Store's migrations.

    Approved without an account, each start would be answered ``unsubscribed`` by the server for
    every such user and the component would store tens of thousands of revocations: a state the
    component never leaves behind, measured at every start."""
    async with Store(path):
        pass
    # The simulator derives each user's uuid from the username (wazo_sim.config.parse_user_entry).
    uuids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{user_name(i)}")) for i in range(users)]
    rows = [
        (user_name(i), jid, uuids[i])
        for jid, watches in subscriptions.items()
        for i in range(users)
        if watches(i)
    ]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO phone_subscriptions (owner, subscriber, owner_uuid) VALUES (?, ?, ?)", rows
        )
        db.executemany(
            "INSERT INTO im_subscriptions (user_jid, state) VALUES (?, ?)",
            [
                (f"{user_name(i)}@{DOMAIN}", "approved" if chat_accounts(i) else "pending")
                for i in range(users)
            ],
        )
        # The copy of Wazo's users the last run stored (bench._sim.world's users as confd gives them).
        db.executemany(
            "INSERT INTO wazo_directory (user_uuid, email, username, display_name) VALUES (?, ?, ?, ?)",
            [(uuids[i], f"{user_name(i)}@{DOMAIN}", "", f"User {i}") for i in range(users)],
        )
    return len(rows)


# --- the rig -----------------------------------------------------------------------------------


@dataclass
class Rig:
    """XMPP server + simulator + readers + latency clients for one benchmark; ``async with``.

    ``server``: "prosody" (``rig.prosody``) or "ejabberd" (``rig.ejabberd``); ``rig.xmpp`` is
    whichever runs, ``rig.server_pid`` the process that spends its CPU. ``pin``: the server on a
    CPU of its own, everything else on the others (module docstring); ``rig.affinity`` says what
    was done, ``rig.affinity_text`` in words for the bench header."""

    users: int
    readers: int
    latency_clients: int
    track: bool = False
    server: str = "prosody"
    # Every reader and latency client has approved the component's subscription (roster item
    # "from", the steady state of subscription mode): the server tells the component their logins.
    approve_readers: bool = False
    # Watchers that are Wazo users (scale --watchers): readers named after them, the offline ones
    # with an account but no connection, all with the component approved in their rosters.
    names: list[str] | None = None
    idle: list[str] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="phonepresence-bench-")))
    prosody: ProsodyServer | None = None
    ejabberd: EjabberdServer | None = None
    sim: Simulator | None = None
    raw: list[RawReader] = field(default_factory=list)
    clients: list[LatencyClient] = field(default_factory=list)
    pin: bool = True
    affinity: Affinity = field(init=False)
    _own_mask: set[int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.affinity = Affinity.plan(self.pin)

    @property
    def affinity_text(self) -> str:
        return self.affinity.describe(self.server_label)

    def reader_name(self, k: int) -> str:
        return self.names[k] if self.names is not None else f"reader{k}"

    def client_name(self, k: int) -> str:
        return f"lat{k}"

    async def __aenter__(self) -> Rig:
        accounts = {self.reader_name(k): f"pw-r{k}" for k in range(self.readers)}
        accounts |= {self.client_name(k): f"pw-l{k}" for k in range(self.latency_clients)}
        accounts |= {name: "pw-idle" for name in self.idle}
        approved = [*map(self.reader_name, range(self.readers)), *self.idle] if self.names is not None else []
        if self.approve_readers:
            approved = list(accounts)
        if self.server not in SERVERS:
            raise ValueError(f"server {self.server!r}: one of {SERVERS}")
        server_cpus, rest_cpus = self.affinity.server, self.affinity.rest
        try:
            if rest_cpus is not None:
                # Before anything is spawned: the simulator and the component inherit it.
                self._own_mask = os.sched_getaffinity(0)
                pin_threads(os.getpid(), rest_cpus)
            if self.server == "ejabberd":
                flags = erl_scheduler_flags(server_cpus)
                self.ejabberd = start_ejabberd(self.workdir / "ejabberd", accounts, approved, flags)
            else:
                self.prosody = start_prosody(self.workdir / "prosody", accounts, approved)
            if server_cpus is not None:
                for pid in self.server_pids():
                    pin_threads(pid, server_cpus)
            self.sim = Simulator(self.workdir, self.users)
            await self.sim.ready()
            for k in range(self.readers):
                reader = RawReader(self.reader_name(k), f"pw-r{k}", self.track)
                await reader.connect(self.xmpp.c2s_port)
                self.raw.append(reader)
            for k in range(self.latency_clients):
                client = LatencyClient(self.client_name(k), f"pw-l{k}")
                await client.connect(self.xmpp.c2s_port)
                self.clients.append(client)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        try:
            for client in self.clients:
                with contextlib.suppress(Exception):
                    await client.close()
            for reader in self.raw:
                await reader.close()
            if self.sim is not None:
                await self.sim.stop()
        finally:
            # Whatever failed above, no server outlives the rig (an Erlang VM would outlive us).
            if self.prosody is not None:
                self.prosody.stop()
            if self.ejabberd is not None:
                self.ejabberd.discard()  # by PID: its VM, then whatever of its session lingers
            if not os.environ.get("BENCH_KEEP"):
                shutil.rmtree(self.workdir, ignore_errors=True)
            if self._own_mask is not None:  # the next rig of this process starts from it
                pin_threads(os.getpid(), self._own_mask)
                self._own_mask = None

    def server_cpu_busy_s(self) -> float:
        """Seconds the server's CPU(s) have been busy since boot, whoever ran there (NaN when not
        pinned); minus the server's own CPU time over a window: what other processes of the
        machine (other benchmarks) took from it, the noise a pinned server cannot run away from,
        plus the kernel's interrupt work there (loopback traffic: a baseline in both runs)."""
        if self.affinity.server is None:
            return float("nan")
        per_cpu = psutil.cpu_times(percpu=True)
        return sum(
            t.user + t.nice + t.system + t.irq + t.softirq + t.steal  # guest time is within user
            for cpu, t in enumerate(per_cpu)
            if cpu in self.affinity.server
        )

    def server_pids(self) -> list[int]:
        """Every process of the server: Prosody's, or ejabberd's whole instance (VM, helpers)."""
        if self.ejabberd is not None:
            return self.ejabberd.instance_pids()
        return [self.prosody_pid]

    @property
    def prosody_pid(self) -> int:
        assert self.prosody is not None
        assert self.prosody.process is not None
        return self.prosody.process.pid

    @property
    def xmpp(self) -> XmppServer:
        server = self.prosody or self.ejabberd
        assert server is not None
        return server

    @property
    def server_label(self) -> str:
        return "Prosody" if self.server == "prosody" else "ejabberd"

    @property
    def server_pid(self) -> int:
        """The process whose CPU time is the server's: Prosody's, or ejabberd's Erlang VM."""
        if self.ejabberd is None:
            return self.prosody_pid
        pid = self.ejabberd.beam_pid
        assert pid is not None, "ejabberd's Erlang VM is not running"
        return pid

    def delivered(self) -> int:
        return sum(r.count for r in self.raw)

    def reset(self) -> None:
        for reader in self.raw:
            reader.reset()
        for client in self.clients:
            client.arrivals.clear()

    def window_s(self) -> float:
        firsts = [r.first_ns for r in self.raw if r.count]
        lasts = [r.last_ns for r in self.raw if r.count]
        if not firsts:
            return float("nan")
        return (max(lasts) - min(firsts)) / 1e9

    async def quiesce(self, quiet: float = 0.5, timeout: float = 120) -> None:
        """Wait until no reader or client got anything for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout

        def snapshot() -> tuple[int, int]:
            return self.delivered(), sum(len(c.arrivals) for c in self.clients)

        last = snapshot()
        since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now = snapshot()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise TimeoutError("traffic never settled")

    async def wait_delivered(self, expected: int, stall: float = 5.0) -> None:
        """Until the readers got ``expected`` stanzas, or nothing came for ``stall`` seconds."""
        last, since = -1, time.monotonic()
        while self.delivered() < expected:
            await asyncio.sleep(0.02)
            now = self.delivered()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > stall:
                return

    async def start_component(self, store: Path, profile: Path | None = None) -> Component:
        assert self.sim is not None
        config = component_config(self.xmpp, self.sim.base_url, store)
        component = Component(self.workdir, config, profile)
        await component.wait("online")
        await component.wait("synced", resyncs=1)
        return component

    async def replay(self, data: bytes, expected: int) -> float:
        """Push ``data`` (captured component output) through a raw component connection as fast as
        the socket takes it; returns the seconds until the readers got ``expected`` stanzas."""
        stream = await raw_component(self.xmpp.component_port)
        self.reset()
        start = time.monotonic_ns()
        view = memoryview(data)
        for offset in range(0, len(data), 1 << 18):
            stream.writer.write(view[offset : offset + (1 << 18)])
            await stream.writer.drain()
        await self.wait_delivered(expected)
        await close_raw_component(stream)
        return (time.monotonic_ns() - start) / 1e9
