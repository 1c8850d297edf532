"""Reload configuration: which changed keys apply at run time, which need a restart, and a file
that does not validate changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xmpp_component.admin_ops import AdminOps
from xmpp_component.config import Config, load_config

BASE = """
[component]
jid = "phone.example.org"
secret_file = "{secret}"
admins = ["root@example.org"]

[store]
path = "{store}"

[calls]
max_calls_per_minute = 5

[logging]
level = "info"
"""


class FakeApp:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.applied: list[Config] = []

    def apply_live_config(self, config: Config) -> None:
        self.applied.append(config)
        self.config = config


def setup(tmp_path: Path) -> tuple[Path, FakeApp, AdminOps]:
    (tmp_path / "secret").write_text("s3cret")
    path = tmp_path / "phonepresence.toml"
    path.write_text(BASE.format(secret=tmp_path / "secret", store=tmp_path / "a.sqlite"))
    app = FakeApp(load_config(path, {}))
    return path, app, AdminOps(app)  # type: ignore[arg-type]


def test_live_keys_apply_and_the_others_are_named_as_needing_a_restart(tmp_path: Path) -> None:
    path, app, ops = setup(tmp_path)
    text = path.read_text()
    text = text.replace('level = "info"', 'level = "debug"').replace("= 5", "= 9")
    text = text.replace("a.sqlite", "b.sqlite").replace('["root@example.org"]', '["boss@example.org"]')
    path.write_text(text)

    result = ops.reload()

    assert result.applied == ("component.admins", "calls.max_calls_per_minute", "logging.level")
    assert result.need_restart == ("store.path",)
    assert result.describe() == (
        "Applied: component.admins, calls.max_calls_per_minute, logging.level. "
        "Changed but needs a restart: store.path."
    )
    running: Any = app.config
    assert running.component.admins == ("boss@example.org",)
    assert running.logging.level == "debug"
    assert running.calls.max_calls_per_minute == 9
    assert running.store.path == str(tmp_path / "a.sqlite")  # kept until a restart


def test_an_unchanged_file_changes_nothing(tmp_path: Path) -> None:
    _path, app, ops = setup(tmp_path)
    before = app.config
    assert ops.reload().describe() == "Configuration reloaded: nothing changed."
    assert app.config == before


def test_a_bad_file_is_refused_with_the_key_and_nothing_applied(tmp_path: Path) -> None:
    path, app, ops = setup(tmp_path)
    before = app.config
    path.write_text(path.read_text().replace("= 5", "= 0"))
    result = ops.reload()
    assert result.error.startswith("calls.max_calls_per_minute: expected")
    assert "The running configuration is kept." in result.describe()
    assert app.applied == []
    assert app.config == before
