"""`make demo` end to end: a real client logs in, discovers the component, and watches alice's
simulated phone ring when the simulator's control API (as printed by the demo) is called."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from devservers.xmpp_client import connect_client, disconnect_client
from tests.commands.test_click_to_call import Chat
from tests.e2e.watch import PresenceWatch
from tests.xmpp.appctl import wait_until

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
        password = re.search(r"bob@example\.test\s+password: (\S+)", text).group(1)
        component = re.search(r"The component is (\S+):", text).group(1)
        ring_url = re.search(r"ring her:\s+curl -X POST (\S+)", text).group(1)
        hangup_url = re.search(r"hang up:\s+curl -X POST (\S+)", text).group(1)
        alice_answer_url = re.search(r"answer it with\s+curl -X POST (\S+)", text).group(1)
        alice_password = re.search(r"alice@example\.test\s+password: (\S+)", text).group(1)

        bob = await connect_client("bob@example.test", password, port)
        try:
            items = await bob.plugin["xep_0030"].get_items(jid="example.test", timeout=5)
            assert component in {item[0] for item in items["disco_items"]["items"]}
            info = await bob.plugin["xep_0030"].get_info(jid=component, timeout=5)
            assert ("component", "presence", None, "Phone presence") in info["disco_info"]["identities"]

            watch = PresenceWatch(bob)
            await bob.get_roster(timeout=5)
            bob.send_presence()
            bob.send_presence_subscription(pto=f"alice@{component}", ptype="subscribe")
            await watch.wait_for(f"alice@{component}", state="reachable_by_phone")
            async with aiohttp.ClientSession() as http:
                response = await http.post(ring_url, data=json.dumps({"from_number": "+33123456789"}))
                assert response.status == 201
            await watch.wait_for(f"alice@{component}", state="ringing", show="dnd", status="Ringing")

            # Click-to-call as the banner tells it: alice types "call bob", answers her own phone,
            # then bob answers his; bob, watching alice, sees Calling then On the phone.
            async with aiohttp.ClientSession() as http:
                await http.post(hangup_url)
                alice = await connect_client("alice@example.test", alice_password, port)
                try:
                    replies: list[str] = []
                    alice.add_event_handler("message", lambda msg: replies.append(str(msg["body"])))
                    mark = watch.mark()
                    alice.send_message(mto=component, mbody="call bob", mtype="chat")
                    await wait_until(lambda: replies, 10, "the component's answer to 'call bob'")
                    await watch.wait_for(f"alice@{component}", mark, state="ringing")  # her own phone first
                    assert (await http.post(alice_answer_url)).status == 204
                    await watch.wait_for(f"alice@{component}", mark, state="calling", status="Calling")
                    assert (await http.post(alice_answer_url.replace("/alice/", "/bob/"))).status == 204
                    await watch.wait_for(f"alice@{component}", mark, state="on_the_phone")
                finally:
                    await disconnect_client(alice)
                await http.post(hangup_url)
                await http.post(hangup_url.replace("/alice/", "/bob/"))

            # The directory, as the banner tells it: one person found in the company directory
            # (LDAP) is asked about first, then dialled out; the address books answer too.
            async with aiohttp.ClientSession() as http:
                alice = await connect_client("alice@example.test", alice_password, port)
                try:
                    chat = Chat(alice, component)
                    reply = await chat.say("call turing")
                    assert "Call Alan Turing at +44 20 7946 0104 (work, company directory)" in reply, reply
                    assert reply.endswith("? (yes/no)"), reply
                    mark = watch.mark()
                    reply = await chat.say("yes")
                    assert reply.startswith("Calling Alan Turing (+44 20 7946 0104)"), reply
                    await watch.wait_for(f"alice@{component}", mark, state="ringing")  # her own phone first
                    assert (await http.post(alice_answer_url)).status == 204
                    await watch.wait_for(f"alice@{component}", mark, state="calling")  # out through the trunk
                    await http.post(hangup_url)
                    assert "Zoë Müller" in await chat.say("call mul")  # accents ignored
                    await chat.say("cancel")
                    reply = await chat.say("call lovelace")
                    assert "Ada Lovelace at +44 20 7946 0001 (work, company address book)" in reply, reply
                    assert await chat.say("no") == "Cancelled: nothing was done."
                    reply = await chat.say("call plombier")
                    assert "Mario Plombier at +33 6 12 34 56 78 (mobile, your contacts)" in reply, reply
                    assert await chat.say("no") == "Cancelled: nothing was done."
                finally:
                    await disconnect_client(alice)

            # A meeting, as the banner tells it: alice shows In a meeting, her calls go to voicemail.
            meeting = re.search(r"meeting:\s+\.venv/bin/python (-m devservers\.meeting .*)", text).group(1)
            argv = meeting.replace("--in 20", "--in 2").split()
            mark = watch.mark()
            subprocess.run(
                [sys.executable, *argv],
                cwd=REPO,
                env={**os.environ, "PHONEPRESENCE_DEMO_DIR": str(tmp_path)},
                check=True,
                timeout=30,
            )
            await watch.wait_for(f"alice@{component}", mark, state="in_a_meeting", status="In a meeting")
            state_url = re.search(r"the truth:\s+curl (\S+)", text).group(1)
            async with aiohttp.ClientSession() as http:

                async def dnd() -> bool:
                    return bool((await (await http.get(state_url)).json())["users"]["alice"]["dnd"])

                for _ in range(100):  # the calls go to voicemail (the component sets DND on Wazo)
                    if await dnd():
                        break
                    await asyncio.sleep(0.1)
                assert await dnd()

            # Voicemail, as the banner tells it: alice (offline now) gets the notice at her next
            # login, and its link plays the recording. The caller's number is in alice's own
            # address book (the demo's Radicale): the notice names him from there, not by the
            # caller ID name ("Dr Who").
            voicemail = re.search(r"voicemail:\s+curl -X POST (\S+) -d '([^']+)'", text)
            async with aiohttp.ClientSession() as http:
                left = await http.post(voicemail.group(1), data=voicemail.group(2))
                assert left.status == 201
                alice = await connect_client("alice@example.test", alice_password, port)
                try:
                    notices: list[str] = []
                    alice.add_event_handler("message", lambda msg: notices.append(str(msg["body"])))
                    alice.send_presence()
                    await wait_until(
                        lambda: any(n.startswith("New voicemail from ") for n in notices), 10, "notice"
                    )
                    notice = next(n for n in notices if n.startswith("New voicemail from "))
                    assert notice.startswith("New voicemail from Mario Plombier (+33 6 12 34 56 78), "), (
                        notice
                    )
                    listen = re.search(r"Listen: (\S+)", notice).group(1)
                    async with http.get(listen) as audio:
                        assert (audio.status, audio.content_type) == (200, "audio/wav")
                        assert (await audio.read())[:4] == b"RIFF"
                finally:
                    await disconnect_client(alice)
        finally:
            await disconnect_client(bob)

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        output.append(rest)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(output)
    assert "demo stopped" in "".join(output)
