"""The undo stack that rollback reads, replayed from alias events alone (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from podium.registry.models import AliasEvent, rollback_stack

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _events(*moves: tuple[int | None, int | None, str]) -> list[AliasEvent]:
    return [
        AliasEvent(i, "m", "production", f, t, "local", reason, AT)
        for i, (f, t, reason) in enumerate(moves, start=1)
    ]


def test_each_move_pushes_the_version_it_left() -> None:
    assert rollback_stack(_events((None, 1, ""), (1, 2, ""), (2, 3, ""))) == [None, 1, 2]


def test_a_rollback_pops_so_the_next_one_walks_further_back() -> None:
    events = _events((None, 1, ""), (1, 2, ""), (2, 3, ""), (3, 2, "rollback: bad"))
    assert rollback_stack(events) == [None, 1]


def test_a_move_after_a_rollback_is_what_the_next_rollback_undoes() -> None:
    events = _events((None, 1, ""), (1, 2, ""), (2, 1, "rollback: x"), (1, 4, ""))
    assert rollback_stack(events) == [None, 1]


def test_a_delete_pushes_so_a_rollback_restores_the_alias() -> None:
    assert rollback_stack(_events((None, 1, ""), (1, None, ""))) == [None, 1]


def test_a_rollback_reason_on_a_move_that_does_not_land_on_the_top_is_an_ordinary_move() -> None:
    # Someone promoted v1 by hand and wrote "rollback:" in the reason; the top of the stack
    # was v2, so this is not an undo and must itself be undoable.
    events = _events((None, 1, ""), (1, 2, ""), (2, 3, ""), (3, 1, "rollback: by hand"))
    assert rollback_stack(events) == [None, 1, 2, 3]


def test_no_events_no_stack() -> None:
    assert rollback_stack([]) == []
