"""Put a meeting in a demo user's calendar: ``python -m devservers.meeting alice --in 20 --minutes 1``.

Talks to the Radicale that ``make demo`` started (its config under ``.demo/radicale``), with the
user's own password, by a plain CalDAV PUT, as any calendar client would.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devservers.radicale import CALENDAR, RadicaleServer


def demo_radicale(workdir: Path) -> RadicaleServer:
    config = (workdir / "radicale" / "config").read_text()
    port = re.search(r"hosts = 127\.0\.0\.1:(\d+)", config)
    if port is None:
        raise SystemExit(f"no Radicale port in {workdir / 'radicale' / 'config'}: is make demo running?")
    return RadicaleServer(workdir / "radicale", port=int(port.group(1)))


def meeting_ics(uid: str, start: datetime, end: datetime) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phonepresence demo//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{start.strftime(stamp)}\r\nDTSTART:{start.strftime(stamp)}\r\n"
        f"DTEND:{end.strftime(stamp)}\r\nSUMMARY:Demo meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("user", help="alice, bob or carol")
    parser.add_argument("--in", dest="start_in", type=float, default=20.0, help="seconds until it starts")
    parser.add_argument("--minutes", type=float, default=1.0, help="how long it lasts")
    args = parser.parse_args(argv)
    workdir = Path(os.environ.get("PHONEPRESENCE_DEMO_DIR", ".demo")).resolve()
    radicale = demo_radicale(workdir)
    if args.user not in radicale.users:
        raise SystemExit(f"unknown demo user {args.user!r} (alice, bob or carol)")
    start = (datetime.now(UTC) + timedelta(seconds=args.start_in)).replace(microsecond=0)
    end = start + timedelta(minutes=args.minutes)
    uid = f"demo-{uuid.uuid4()}"
    radicale.put_event(args.user, uid, meeting_ics(uid, start, end), CALENDAR)
    print(f"meeting for {args.user} from {start:%H:%M:%S} to {end:%H:%M:%S} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
