"""Users' settings: kept across restarts, malformed documents logged and left untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from presence.privacy import OwnerPrivacy
from store import Store
from xmpp_component.commands.base import FieldError
from xmpp_component.commands.privacy import parse_jids
from xmpp_component.user_settings import DEFAULT_PRIVACY, UserSettings


async def test_privacy_is_saved_merged_with_other_settings_and_reloaded(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        await store.save_settings("alice@example.test", '{"calendar": {"busy_status": true}}')
        settings = UserSettings(store)
        await settings.load()
        changes: list[str] = []

        async def changed(user_jid: str) -> None:
            changes.append(user_jid)

        settings.on_privacy_change = changed
        hidden = OwnerPrivacy(hidden=True, visible_to=frozenset({"carol@example.test"}))
        await settings.set_privacy("alice@example.test", hidden)
        assert changes == ["alice@example.test"]
        reloaded = UserSettings(store)
        await reloaded.load()
        assert reloaded.privacy("alice@example.test") == hidden
        assert reloaded.privacy("bob@example.test") == DEFAULT_PRIVACY
        assert '"calendar"' in (await store.load_settings("alice@example.test") or "")


async def test_a_malformed_document_is_logged_ignored_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        await store.save_settings("alice@example.test", "{not json")
        await store.save_settings("bob@example.test", '{"privacy": {"hidden": "yes", "visible_to": []}}')
        settings = UserSettings(store)
        await settings.load()
        assert settings.privacy("alice@example.test") == DEFAULT_PRIVACY
        assert settings.privacy("bob@example.test") == DEFAULT_PRIVACY
        assert "settings of alice@example.test are not valid JSON" in caplog.text
        assert "settings of bob@example.test: key 'privacy' is malformed" in caplog.text
        assert await store.load_settings("alice@example.test") == "{not json"


def test_listed_addresses_are_validated_one_by_one() -> None:
    assert parse_jids("Bob@Example.test, carol@example.test") == {"bob@example.test", "carol@example.test"}
    with pytest.raises(FieldError, match=r"visible_to: bob is not an address such as bob@example\.org"):
        parse_jids("bob")
    with pytest.raises(FieldError, match="is not an address"):
        parse_jids("carol@example.test/laptop")
