"""Per-source bookkeeping behind Status and /metrics: counts, last success, last error on one line."""

from __future__ import annotations

from presence.source_stats import MAX_ERROR_TEXT, SourceActivity


def test_counts_last_success_and_last_error_in_words() -> None:
    now = [1000.0]
    activity = SourceActivity(clock=lambda: now[0])
    seen: list[tuple[str, str, float, str | None]] = []
    activity.listener = lambda *report: seen.append(report)
    assert activity.describe("ldap", "search", "searches") == "no searches yet"

    activity.record("ldap", "search", 0.02)
    now[0] = 1030.0
    activity.record("ldap", "search", 1.5, "no answer within 1.5 s\nsecond line")
    now[0] = 1040.0
    figures = activity.figures("ldap", "search")
    assert (figures.requests, figures.errors, figures.failing) == (2, 1, True)
    assert activity.describe("ldap", "search", "searches") == (
        "2 searches, 1 error; last success 40 s ago; last error 10 s ago: no answer within 1.5 s"
    )
    activity.record("ldap", "search", 0.01)
    assert activity.figures("ldap", "search").failing is False
    assert [report[3] for report in seen] == [None, "no answer within 1.5 s\nsecond line", None]
    assert activity.figures("wazo", "search").requests == 0  # sources are counted apart


def test_an_error_is_kept_short() -> None:
    activity = SourceActivity()
    activity.record("company", "sync", 0.1, "x" * 5000)
    assert len(activity.figures("company", "sync").last_error) == MAX_ERROR_TEXT
