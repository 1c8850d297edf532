"""The ``phonepresence`` command.

Exit status: 0 after a requested stop, 2 for a configuration error (one line naming the key),
1 for anything unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import xmpp_component
from store import SchemaError
from xmpp_component.config import ConfigError, load_config
from xmpp_component.logs import setup_logging

EXIT_CONFIG = 2


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    secrets = [config.component_secret] + ([config.wazo_password] if config.wazo_password else [])
    secrets += [config.caldav_password] if config.caldav_password else []
    secrets += [config.store_password] if config.store_password else []
    setup_logging(config.logging.level, secrets, config.logging.format, config.logging.personal_data)
    from xmpp_component.app import App  # imported late: `check-config` needs no XMPP stack

    app = App(config)
    try:
        asyncio.run(app.run())
    except SchemaError as exc:
        logging.getLogger("phonepresence").error("%s", exc)
        return EXIT_CONFIG
    return EXIT_CONFIG if app.fatal else 0


if __name__ == "__main__":
    sys.exit(main())
