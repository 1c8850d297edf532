"""Users' settings: kept across restarts, malformed documents logged and left untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from presence.identity import MatchRule, PbxUser, People, build_people
from presence.privacy import OwnerPrivacy
from tests.conftest import StoreOpener
from xmpp_component.commands.base import FieldError
from xmpp_component.commands.privacy import parse_jids
from xmpp_component.user_settings import DEFAULT_PRIVACY, UserSettings

ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
UUIDS = {"alice": ALICE, "bob": BOB}


def people(*names: str) -> People:
    users = [PbxUser(UUIDS[name], email=f"{name}@example.test") for name in names]
    return build_people(users, MatchRule.EMAIL, ["example.test"])[0]


async def test_privacy_is_saved_merged_with_other_settings_and_reloaded(
    store_opener: StoreOpener, tmp_path: Path
) -> None:
    async with store_opener() as store:
        await store.save_settings("alice@example.test", '{"calendar": {"busy_status": true}}')
        settings = UserSettings(store)
        await settings.load()
        changes: list[str] = []

        async def changed(user_jid: str) -> None:
            changes.append(user_jid)

        settings.on_privacy_change = changed
        hidden = OwnerPrivacy(hidden=True, visible_to=frozenset({"carol@example.test"}))
        await settings.set_privacy(ALICE, "alice@example.test", hidden)
        assert changes == [ALICE]
        reloaded = UserSettings(store)
        await reloaded.load()
        assert reloaded.privacy(ALICE) == hidden
        assert reloaded.privacy(BOB) == DEFAULT_PRIVACY
        assert '"calendar"' in (
            {j: t for j, _u, t in await store.all_settings_rows()}.get("alice@example.test") or ""
        )


async def test_a_malformed_document_is_logged_ignored_and_kept(
    store_opener: StoreOpener, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with store_opener() as store:
        await store.save_settings("alice@example.test", "{not json")
        await store.save_settings("bob@example.test", '{"privacy": {"hidden": "yes", "visible_to": []}}')
        settings = UserSettings(store)
        await settings.load()
        await settings.adopt(people("alice", "bob"))
        assert settings.privacy(ALICE) == DEFAULT_PRIVACY
        assert settings.privacy(BOB) == DEFAULT_PRIVACY
        assert "settings of alice@example.test are not valid JSON" in caplog.text
        assert "settings of bob@example.test: key 'privacy' is malformed" in caplog.text
        assert {j: t for j, _u, t in await store.all_settings_rows()}.get("alice@example.test") == "{not json"


def test_listed_addresses_are_validated_one_by_one() -> None:
    assert parse_jids("Bob@Example.test, carol@example.test") == {"bob@example.test", "carol@example.test"}
    with pytest.raises(FieldError, match=r"visible_to: bob is not an address such as bob@example\.org"):
        parse_jids("bob")
    with pytest.raises(FieldError, match="is not an address"):
        parse_jids("carol@example.test/laptop")


async def test_call_notices_default_saved_kept_and_malformed_logged(
    store_opener: StoreOpener, caplog: pytest.LogCaptureFixture
) -> None:
    from xmpp_component.user_settings import CallNotices

    async with store_opener() as store:
        await store.save_settings("bob@example.test", '{"call_notices": {"missed_calls": "yes"}}', BOB)
        settings = UserSettings(store)
        await settings.load()
        assert settings.notices(ALICE) == CallNotices(missed_calls=True, incoming_calls=False)
        assert settings.notices(BOB) == CallNotices()  # malformed: the default, and said so
        assert "key 'call_notices' is malformed" in caplog.text
        await settings.set_notices(ALICE, "alice@example.test", CallNotices(False, True))
        reloaded = UserSettings(store)
        await reloaded.load()
        assert reloaded.notices(ALICE) == CallNotices(missed_calls=False, incoming_calls=True)
        assert reloaded.notices(BOB) == CallNotices()
