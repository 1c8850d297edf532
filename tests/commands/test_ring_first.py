"""Which phone rings first when a user places a call, over the wire: real Prosody, alice's chat
client and ad-hoc form, the component, and the Wazo simulator ringing the phone calld would ring
(alice has a desk phone, a soft phone and a mobile; bob has one line and no mobile)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devservers.prosody import ProsodyServer
from tests.commands.harness import (
    Adhoc,
    RecordingSimulator,
    fields,
    notes,
    options,
    status,
    two_lines_and_mobile_world,
)
from tests.commands.test_click_to_call import ALICE, Chat, history_has_an_incoming_call
from tests.conftest import ClientFactory
from tests.e2e.test_combined_presence import BOB_UUID, e2e_config, ready
from tests.xmpp.appctl import running_app, wait_until
from xmpp_component.ring_first import RingFirst, RingMode

pytestmark = pytest.mark.server

CALL_BOB = "Calling 1002: {phone} first; the call goes out when you pick up."


def ringing(sim: RecordingSimulator, user: str = "alice") -> tuple[list[int], bool]:
    state = sim.state()["users"][user]
    return state["ringing_lines"], state["mobile_ringing"]


async def test_each_choice_reaches_calld_and_rings_that_phone(
    prosody: ProsodyServer, xmpp_client: ClientFactory, tmp_path: Path
) -> None:
    async with RecordingSimulator(two_lines_and_mobile_world()) as sim:
        store = tmp_path / "state.sqlite"
        async with running_app(e2e_config(prosody, sim, store)) as app:
            await ready(app)
            chat = Chat(await xmpp_client("alice"), prosody.component)

            # By default the main line rings.
            assert (await chat.say("call 1002")).startswith(
                CALL_BOB.format(phone="your phone (alice-desk) rings")
            )
            assert sim.originations[-1]["source"] == {"user": ALICE, "line_id": 11}
            assert ringing(sim) == ([11], False)
            sim.hangup(user="alice")

            # The mobile: calld rings it instead of any line; picking up there dials bob.
            assert (
                await chat.say("ring first mobile")
                == "Saved. When you place a call: your mobile rings first."
            )
            assert (await chat.say("call 1002")).startswith(
                CALL_BOB.format(phone="your mobile (0612345678) rings")
            )
            assert sim.originations[-1]["source"] == {"user": ALICE, "from_mobile": True}
            assert ringing(sim) == ([], True)
            sim.answer(user="alice")
            assert sim.state()["users"]["bob"]["line_state"] == "ringing"
            sim.hangup(user="alice")

            # Every line at once.
            assert (await chat.say("ring first all")).startswith(
                "Saved. When you place a call: all your lines rings first."
            )
            assert (await chat.say("call 1002")).startswith(CALL_BOB.format(phone="all your phones ring"))
            assert sim.originations[-1]["source"] == {"user": ALICE, "all_lines": True}
            assert ringing(sim) == ([11, 21], False)
            sim.hangup(user="alice")

            # A given line, by its number in the list or by its name.
            assert await chat.say("ring first line 2") == (
                "Saved. When you place a call: your line alice-soft rings first."
            )
            assert (await chat.say("call 1002")).startswith(
                CALL_BOB.format(phone="your phone (alice-soft) rings")
            )
            assert sim.originations[-1]["source"] == {"user": ALICE, "line_id": 21}
            assert ringing(sim) == ([21], False)
            sim.hangup(user="alice")
            assert (await chat.say("ring first line ALICE-DESK")).endswith(
                "your line alice-desk rings first."
            )
            assert app.settings.ring_first(ALICE) == RingFirst(RingMode.LINE, 11, "alice-desk")

            # settings shows the choice and how to change it
            shown = await chat.say("settings")
            assert "When you place a call: your line alice-desk rings first." in shown.splitlines()
            assert "ring first main|all|mobile|line <number or name>" in shown.splitlines()[-1]
            await chat.say("ring first mobile")

        async with running_app(e2e_config(prosody, sim, store)) as again:  # kept in the store
            await ready(again)
            assert again.settings.ring_first(ALICE) == RingFirst(RingMode.MOBILE)
            chat = Chat(await xmpp_client("alice"), prosody.component)
            # The mobile number is removed on Wazo afterwards: the call is refused, saying why.
            sim.edit_user("alice", mobile_phone_number="")
            count = len(sim.originations)
            assert await chat.say("call 1002") == (
                "Sorry: You chose your mobile to ring first, but the phone system has no mobile number "
                "for you any more; change it with: ring first main."
            )
            assert len(sim.originations) == count  # nothing was asked of calld
            assert sim.state()["users"]["alice"]["calls"] == []


async def test_impossible_choices_are_refused_and_change_nothing(
    prosody: ProsodyServer, xmpp_client: ClientFactory, tmp_path: Path
) -> None:
    world = two_lines_and_mobile_world()
    async with (
        RecordingSimulator(world) as sim,
        running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app,
    ):
        await ready(app)
        bob = Chat(await xmpp_client("bob"), prosody.component)
        assert await bob.say("ring first mobile") == (
            "Sorry: When I place a call, ring first: the phone system has no mobile number for you; "
            "ask your administrator to add it."
        )
        assert await bob.say("ring first line 2") == (
            "Sorry: When I place a call, ring first: you have no line '2'; your lines: 1 bob-desk (1002)."
        )
        assert (await bob.say("ring first sideways")).startswith(
            "Sorry: When I place a call, ring first: 'sideways' is not one of: main, all, mobile"
        )
        assert (await bob.say("ring loud")).startswith("Sorry: Say it like this: ring first main|all|mobile")
        assert app.settings.ring_first(BOB_UUID) == RingFirst()

        # The form offers only what bob has; a forged "mobile" is refused with a note.
        adhoc = Adhoc(bob.client, prosody.component)
        iq = await adhoc.execute("settings")
        assert options(iq, "ring_first") == [("main", "My main line (bob-desk)")]
        iq = await adhoc.act(
            "complete",
            meeting_busy="off",
            meeting_calls="nowhere",
            dnd_calls="nowhere",
            ring_first="mobile",
        )
        assert status(iq) == "completed"
        assert notes(iq) == [
            (
                "error",
                "When I place a call, ring first: the phone system has no mobile number for you; "
                "ask your administrator to add it",
            )
        ]
        assert app.settings.ring_first(BOB_UUID) == RingFirst()


async def test_the_settings_form_offers_alices_phones(
    prosody: ProsodyServer, xmpp_client: ClientFactory, tmp_path: Path
) -> None:
    world = two_lines_and_mobile_world()
    async with (
        RecordingSimulator(world) as sim,
        running_app(e2e_config(prosody, sim, tmp_path / "state.sqlite")) as app,
    ):
        await ready(app)
        alice = await xmpp_client("alice")
        adhoc = Adhoc(alice, prosody.component)
        iq = await adhoc.execute("settings")
        assert fields(iq)["ring_first"]["value"] == "main"
        assert options(iq, "ring_first") == [
            ("main", "My main line (alice-desk)"),
            ("all", "All my lines at once"),
            ("line:11", "Line 1: alice-desk"),
            ("line:21", "Line 2: alice-soft"),
            ("mobile", "My mobile (0612345678)"),
        ]
        iq = await adhoc.act(
            "complete",
            meeting_busy="on",
            meeting_calls="nowhere",
            dnd_calls="nowhere",
            ring_first="line:21",
        )
        assert notes(iq)[0][0] == "info"
        assert notes(iq)[0][1].endswith("When you place a call: your line alice-soft rings first.")
        assert app.settings.ring_first(ALICE) == RingFirst(RingMode.LINE, 21, "alice-soft")
        # The Call form follows the choice too.
        call = Adhoc(alice, prosody.component)
        await call.execute("call", number="1002")
        iq = await call.act("complete")
        assert notes(iq)[0][1].startswith(CALL_BOB.format(phone="your phone (alice-soft) rings"))
        assert sim.originations[-1]["source"] == {"user": ALICE, "line_id": 21}
        assert ringing(sim) == ([21], False)
        sim.hangup(user="alice")

        # Call back too: bob rang alice; calling him back rings her soft phone.
        sim.ring("alice", from_user="bob")
        await wait_until(
            lambda: sim.state()["users"]["alice"]["line_state"] == "ringing", 10, "alice to ring"
        )
        sim.hangup(user="alice")
        history = app.commands.services.history
        assert history is not None
        await history_has_an_incoming_call(history, ALICE)
        chat = Chat(alice, prosody.component)
        # one caller: the chat message is the confirmation
        assert (await chat.say("call back")).startswith(
            "Calling Bob Brown (1002): your phone (alice-soft) rings first;"
        )
        assert sim.originations[-1]["source"] == {"user": ALICE, "line_id": 21}
        assert ringing(sim) == ([21], False)
