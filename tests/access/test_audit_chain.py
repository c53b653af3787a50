"""The audit log's hash chain catches edited, deleted, inserted, reordered and truncated rows."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from podium.access.audit import AuditLog
from podium.access.sql import audit_events
from podium.server.app import Services


@pytest.fixture
def audit(services: Services) -> AuditLog:
    log = services.audit
    for i in range(6):
        log.append(
            actor=f"user{i % 2}",
            action="registry.promote",
            object_type="registry",
            object_id=f"model=m/alias=production/{i}",
            project="default",
            remote_addr="127.0.0.1",
            details={"i": i},
        )
    return log


def _ids(services: Services) -> list[int]:
    with services.db.read() as conn:
        return [r.id for r in conn.execute(select(audit_events.c.id).order_by(audit_events.c.id))]


def test_an_untouched_chain_verifies(audit: AuditLog) -> None:
    result = audit.verify()
    assert result.ok and result.checked == 6


def test_edited_row_is_named(audit: AuditLog, services: Services) -> None:
    target = _ids(services)[2]
    with services.db.write() as conn:
        conn.execute(
            update(audit_events).where(audit_events.c.id == target).values(actor="mallory")
        )
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_id == target
    assert "edited" in result.reason


def test_edited_details_are_caught(audit: AuditLog, services: Services) -> None:
    target = _ids(services)[4]
    with services.db.write() as conn:
        conn.execute(
            update(audit_events).where(audit_events.c.id == target).values(details={"i": 99})
        )
    assert audit.verify().first_bad_id == target


def test_deleted_row_is_caught_at_the_next_one(audit: AuditLog, services: Services) -> None:
    ids = _ids(services)
    with services.db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == ids[1]))
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_id == ids[2]
    assert "deleted" in result.reason


def test_reordered_rows_are_caught(audit: AuditLog, services: Services) -> None:
    """Swap the contents (including hashes) of two rows, keeping their ids."""
    ids = _ids(services)
    with services.db.write() as conn:
        rows = {
            r.id: r._asdict()
            for r in conn.execute(select(audit_events).where(audit_events.c.id.in_(ids[2:4])))
        }
        first, second = rows[ids[2]], rows[ids[3]]
        for target, source in ((ids[2], second), (ids[3], first)):
            values = {k: v for k, v in source.items() if k != "id"}
            conn.execute(update(audit_events).where(audit_events.c.id == target).values(**values))
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_id == ids[2]


def test_rehashed_edit_still_breaks_the_next_link(audit: AuditLog, services: Services) -> None:
    """A forger who recomputes an edited row's own hash still breaks the following row."""
    from podium.access.audit import row_hash

    ids = _ids(services)
    with services.db.write() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.id == ids[1])).one()._asdict()
        row["actor"] = "mallory"
        values = {k: row[k] for k in row if k not in ("id", "hash")}
        conn.execute(
            update(audit_events)
            .where(audit_events.c.id == ids[1])
            .values(actor="mallory", hash=row_hash(ids[1], values))
        )
    result = audit.verify()
    assert result.first_bad_id == ids[2]


def test_truncated_tail_is_caught_against_a_checkpoint(audit: AuditLog, services: Services) -> None:
    count, head = audit.head()
    assert count == 6
    ids = _ids(services)
    with services.db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == ids[-1]))
    assert audit.verify().ok  # a shorter chain is self-consistent...
    result = audit.verify(expect_head=head)  # ...but not against the checkpoint
    assert not result.ok
    assert "removed from its end" in result.reason


def test_concurrent_appends_keep_one_linear_chain(services: Services) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = services.audit

    def append(i: int) -> int:
        return log.append(actor="t", action="x.y", object_type="x", object_id=str(i))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(80)))
    result = log.verify()
    assert result.ok and result.checked == 80
