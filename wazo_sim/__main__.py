"""``python -m wazo_sim --config FILE --port N``: run the Wazo simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from wazo_sim.app import SERVICE_PATHS, WazoSimulator
from wazo_sim.config import DEMO_USERS_FILE, ConfigError, load_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="phonepresence-wazo-sim", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEMO_USERS_FILE, help="users TOML file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with WazoSimulator(load_config(args.config), host=args.host, port=args.port) as sim:
        # The first line is machine-readable: scripts wait for it to learn the URL.
        print(f"wazo-sim listening on {sim.base_url}", flush=True)
        for service in SERVICE_PATHS:
            print(f"  {service}: {sim.url(service)}", flush=True)
        await stop.wait()
    print("wazo-sim stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        asyncio.run(serve(args))
    except ConfigError as error:
        print(f"wazo-sim: bad config: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
