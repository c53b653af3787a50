"""The tamper-evident audit log: append-only rows chained by SHA-256.

Each row stores ``prev_hash`` (the hash of the row before it, ``"0"*64`` for the first) and
``hash = sha256(canonical JSON of its own content including id and prev_hash)``. Editing a row
breaks its own hash; deleting or reordering rows breaks the next row's link. Truncating the tail
leaves a valid shorter chain, so ``head()`` returns the newest hash and count for operators to
keep elsewhere, and ``verify(expect_head=…)`` checks against such a checkpoint.

Appends are serialised so the chain stays linear: SQLite's write lock does it; on PostgreSQL a
transaction-scoped advisory lock does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, text

from podium.access import sql
from podium.access.models import AuditEvent, AuditVerification
from podium.store.clock import now_ms, to_ms
from podium.store.engine import Database

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x41554454  # "AUDT"


def _canonical(event_id: int, values: dict[str, Any]) -> bytes:
    content = {
        "id": event_id,
        "at": values["at"],
        "actor": values["actor"],
        "action": values["action"],
        "object_type": values["object_type"],
        "object_id": values["object_id"],
        "project": values["project"],
        "remote_addr": values["remote_addr"],
        "details": values["details"],
        "prev_hash": values["prev_hash"],
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def row_hash(event_id: int, values: dict[str, Any]) -> str:
    """The hash a row with this id and content must carry."""
    return hashlib.sha256(_canonical(event_id, values)).hexdigest()


def _event_values(event: AuditEvent) -> dict[str, Any]:
    return {
        "at": to_ms(event.at),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "project": event.project,
        "remote_addr": event.remote_addr,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }


class AuditLog:
    """Appends to, searches and verifies the audit chain."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        project: str | None = None,
        remote_addr: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Append one event; returns its id."""
        with self._db.write() as conn:
            return self.append_in(
                conn,
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                project=project,
                remote_addr=remote_addr,
                details=details,
            )

    def append_in(self, conn: Connection, **event: Any) -> int:
        """Append inside a caller's write transaction (atomic with the change it records)."""
        if not self._db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        values = {
            "at": now_ms(),
            "actor": event["actor"],
            "action": event["action"],
            "object_type": event["object_type"],
            "object_id": str(event["object_id"])[:1000],
            "project": event.get("project"),
            "remote_addr": event.get("remote_addr"),
            "details": event.get("details") or {},
            "prev_hash": sql.last_audit_hash(conn) or GENESIS,
            "hash": "pending",
        }
        # The id is part of the hashed content (so swapping rows is detected); it is only
        # known after the insert, so the row is written first and its hash filled in.
        event_id = sql.insert_audit_event(conn, values)
        conn.execute(
            sql.audit_events.update()
            .where(sql.audit_events.c.id == event_id)
            .values(hash=row_hash(event_id, values))
        )
        return event_id

    def search(
        self,
        *,
        project: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Events newest first, filtered by any of project, actor, action prefix, object type."""
        with self._db.read() as conn:
            return sql.search_audit(
                conn,
                project=project,
                actor=actor,
                action=action,
                object_type=object_type,
                offset=offset,
                limit=limit,
            )

    def head(self) -> tuple[int, str]:
        """(number of rows, newest hash): a checkpoint to keep outside the database."""
        count = 0
        last = GENESIS
        for batch in self._batches():
            count += len(batch)
            last = batch[-1].hash
        return count, last

    def verify(self, expect_head: str | None = None) -> AuditVerification:
        """Walk the chain; report the first row whose hash or link is wrong."""
        previous = GENESIS
        checked = 0
        seen_head = expect_head is None
        for batch in self._batches():
            for event in batch:
                if event.prev_hash != previous:
                    return AuditVerification(
                        False,
                        checked,
                        event.id,
                        f"row {event.id} does not link to the row before it: a row was "
                        "deleted, inserted or reordered before it",
                    )
                if row_hash(event.id, _event_values(event)) != event.hash:
                    return AuditVerification(
                        False, checked, event.id, f"row {event.id} was edited: its hash is wrong"
                    )
                previous = event.hash
                checked += 1
                seen_head = seen_head or event.hash == expect_head
        if not seen_head:
            return AuditVerification(
                False,
                checked,
                None,
                f"the checkpoint {expect_head} is not in the chain: rows were removed from its end",
            )
        return AuditVerification(True, checked)

    def _batches(self) -> Any:
        after = 0
        while True:
            with self._db.read() as conn:
                batch = sql.audit_rows(conn, after_id=after)
            if not batch:
                return
            yield batch
            after = batch[-1].id
