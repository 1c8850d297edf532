"""Who can receive: only a watcher known offline is skipped; unknown is not offline; a session
is proven to span a reconnect only by a server stamp from before the last proven delivery."""

from __future__ import annotations

from presence.chat_sessions import ChatSessions
from presence.im import ImResources

ONLINE = ImResources().available("laptop")
BOB = "bob@example.test"


def test_a_watcher_never_heard_of_may_receive() -> None:
    sessions = ChatSessions()
    assert sessions.may_receive(BOB)
    assert sessions.may_receive("mallory@other.test")


def test_only_an_unavailable_makes_a_watcher_offline_and_a_login_or_probe_undoes_it() -> None:
    sessions = ChatSessions()
    sessions.update(BOB, ONLINE)
    assert sessions.may_receive(BOB)
    sessions.update(BOB, ONLINE.unavailable("laptop"))
    assert not sessions.may_receive(BOB)
    sessions.update(BOB, ONLINE)
    assert sessions.may_receive(BOB)
    sessions.offline(BOB)  # the XEP-0356 sweep
    assert not sessions.may_receive(BOB)
    sessions.probed(BOB)  # ejabberd probes before it broadcasts the login
    assert sessions.may_receive(BOB)


def test_a_watcher_who_revoked_the_component_is_unknown_not_offline() -> None:
    sessions = ChatSessions()
    sessions.update(BOB, ImResources())
    sessions.forget(BOB)
    assert sessions.may_receive(BOB)


def test_a_new_stream_forgets_who_is_offline() -> None:
    sessions = ChatSessions()
    sessions.update(BOB, ImResources())
    sessions.new_stream(cutoff=None)
    assert sessions.may_receive(BOB)


def test_a_session_continues_only_with_every_presence_stamped_before_the_cutoff() -> None:
    sessions = ChatSessions()
    for jid in ("old@x", "late@x", "unstamped@x", "both@x"):
        sessions.update(jid, ONLINE)
    sessions.new_stream(cutoff=1000.0)
    sessions.update("old@x", ONLINE, stamp=900.0)
    sessions.update("late@x", ONLINE, stamp=1000.0)  # set while the link may have been down
    sessions.update("unstamped@x", ONLINE)  # ejabberd, or a live change: nothing proven
    sessions.update("both@x", ONLINE, stamp=900.0)
    sessions.update("both@x", ONLINE.available("phone"), stamp=1200.0)  # a second client logged in
    sessions.update("new@x", ONLINE, stamp=900.0)  # not online on the previous stream
    assert [j for j in ("old@x", "late@x", "unstamped@x", "both@x", "new@x") if sessions.continued(j)] == [
        "old@x"
    ]


def test_nothing_continues_when_no_delivery_was_proven() -> None:
    sessions = ChatSessions()
    sessions.update(BOB, ONLINE)
    sessions.new_stream(cutoff=None)
    sessions.update(BOB, ONLINE, stamp=0.0)
    assert not sessions.continued(BOB)
