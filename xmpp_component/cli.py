"""The ``phonepresence`` command.

Exit status: 0 after a requested stop, 2 for a configuration error (one line naming the key),
3 when the active instance of a pair lost its lock (it stops serving), 1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from pathlib import Path

import xmpp_component
from presence.sources.wazo.config import Secret
from store import SchemaError
from xmpp_component.config import Config, ConfigError, load_config
from xmpp_component.logs import setup_logging

EXIT_CONFIG = 2
EXIT_LOST_LOCK = 3  # the active instance of a pair lost its lock's PostgreSQL session


def log_secrets(config: Config) -> list[Secret]:
    """Every secret the configuration read, whichever section: each is masked in the logs.
    Taken from the fields' values, so a secret added to Config later is masked without a change here."""
    return [
        value
        for item in dataclasses.fields(config)
        if isinstance(value := getattr(config, item.name), Secret)
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phonepresence", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"phonepresence {xmpp_component.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the component")
    run.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")
    check = commands.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")
    doctor = commands.add_parser(
        "doctor", help="check the configuration against the XMPP server and Wazo, one line per check"
    )
    doctor.add_argument("--config", "-c", type=Path, required=True, help="TOML configuration file")
    migrate = commands.add_parser(
        "migrate-store",
        help="copy an SQLite store into a new, empty PostgreSQL store (password: "
        "$PHONEPRESENCE_STORE_PASSWORD, else ~/.pgpass)",
    )
    migrate.add_argument("--from", dest="source", type=Path, required=True, help="the SQLite store file")
    migrate.add_argument("--to", dest="target", required=True, help="postgresql://user@host:port/database")
    return parser


def migrate_store(source: Path, target: str) -> int:
    """Copy, or say in one line why not (exit 2: nothing was written)."""
    import os

    from store.copy import CopyRefused, copy_sqlite_to_postgres
    from xmpp_component.config import _postgres_url

    problem = _postgres_url(target) if target else "a postgresql:// URL"
    if problem:
        print(f"phonepresence: --to: expected {problem}", file=sys.stderr)
        return EXIT_CONFIG
    password = os.environ.get("PHONEPRESENCE_STORE_PASSWORD") or None
    try:
        copied = asyncio.run(copy_sqlite_to_postgres(source, target, password))
    except (CopyRefused, SchemaError) as exc:
        print(f"phonepresence: migrate-store refused: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"phonepresence: migrate-store: cannot reach {target}: {exc}", file=sys.stderr)
        return 1
    for table, rows in copied.items():
        print(f"{table}: {rows} rows")
    print(f"{source} copied into {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "migrate-store":
        return migrate_store(args.source, args.target)
    if args.command == "doctor":
        from xmpp_component.doctor import run_doctor  # its own output: one line per check

        return run_doctor(args.config, sys.stdout)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"phonepresence: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(f"{args.config}: configuration is valid")
        return 0
    setup_logging(
        config.logging.level, log_secrets(config), config.logging.format, config.logging.personal_data
    )
    from xmpp_component.app import App  # imported late: `check-config` needs no XMPP stack

    app = App(config)
    try:
        asyncio.run(app.run())
    except SchemaError as exc:
        logging.getLogger("phonepresence").error("%s", exc)
        return EXIT_CONFIG
    if app.lost_lock:
        return EXIT_LOST_LOCK
    return EXIT_CONFIG if app.fatal else 0


if __name__ == "__main__":
    sys.exit(main())
