"""Opening a voicemail "listen" link: link check, the owner's mailbox read from calld, and the
recording streamed through (a 20 s WAV, 320 KB). The Wazo simulator, the component's real links
listener with a real Wazo client, and an aiohttp client, all on loopback, in one process.

    .venv/bin/python -m bench.voicemail_link [--fetches N]

Prints a table and JSON lines: time to the first byte and to the last, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devservers.net import free_port
from presence.sources.wazo.client import WazoClient
from presence.voicemail_links import LinkSigner
from tests.wazo_client.test_against_simulator import sim_settings
from wazo_sim.app import WazoSimulator
from xmpp_component.config import HttpSection
from xmpp_component.voicemail_http import VoicemailHttpServer


async def measure(fetches: int) -> dict[str, float]:
    async with WazoSimulator() as sim, WazoClient(sim_settings(sim)) as wazo:
        message = sim.leave_voicemail("alice", "1002", "Bob Brown", 20)
        owner = sim.resolve("alice")
        port = free_port()
        settings = HttpSection(enabled=True, port=port, public_base_url=f"http://127.0.0.1:{port}")
        server = VoicemailHttpServer(settings, LinkSigner(b"bench-key-0123456789", 600), lambda: wazo)
        await server.start()
        link = server.link(message["id"], owner)
        first, total = [], []
        size = 0
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(fetches):
                    began = time.perf_counter()
                    async with http.get(link) as response:
                        assert response.status == 200
                        chunk = await response.content.readany()
                        first.append((time.perf_counter() - began) * 1000)
                        size = len(chunk) + len(await response.read())
                    total.append((time.perf_counter() - began) * 1000)
        finally:
            await server.stop()

    def p99(values: list[float]) -> float:
        return sorted(values)[max(0, round(len(values) * 0.99) - 1)]

    return {
        "bytes": size,
        "first_byte_median_ms": statistics.median(first),
        "first_byte_p99_ms": p99(first),
        "whole_median_ms": statistics.median(total),
        "whole_p99_ms": p99(total),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetches", type=int, default=200)
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.fetches))
    print(f"voicemail link, {args.fetches} fetches of a {figures['bytes']} byte recording")
    for name, value in figures.items():
        print(f"  {name:<22} {value:10.1f}")
    print(json.dumps({"bench": "voicemail_link", "fetches": args.fetches, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
