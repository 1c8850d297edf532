"""`make demo` end to end: the demo starts, a real client logs in and discovers the component."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from devservers.xmpp_client import connect_client, disconnect_client

REPO = Path(__file__).resolve().parents[1]


async def test_demo_serves_a_component_a_client_can_discover(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devservers.demo"],
        cwd=REPO,
        env={**os.environ, "PHONEPRESENCE_DEMO_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.strip() == "demo ready":
                break
        text = "".join(output)
        port = int(re.search(r"port: (\d+)", text).group(1))
        password = re.search(r"alice@example\.test\s+password: (\S+)", text).group(1)
        component = re.search(r"The component is (\S+):", text).group(1)

        alice = await connect_client("alice@example.test", password, port)
        try:
            items = await alice.plugin["xep_0030"].get_items(jid="example.test", timeout=5)
            assert component in {item[0] for item in items["disco_items"]["items"]}
            info = await alice.plugin["xep_0030"].get_info(jid=component, timeout=5)
            assert ("component", "presence", None, "Phone presence") in info["disco_info"]["identities"]
        finally:
            await disconnect_client(alice)

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        output.append(rest)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(output)
    assert "demo stopped" in "".join(output)
