"""``/api/v1/health``: liveness plus a database round trip, for load balancers and probes."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text

from podium import __version__
from podium.access.authz import Permission
from podium.access.policy import PUBLIC
from podium.store.engine import Database
from podium.store.migrate import current_revision


class Health(BaseModel):
    """The server's health."""

    status: str
    version: str
    database: str
    schema_revision: str | None


def build_router(db: Database) -> APIRouter:
    """The health route, checking ``db``."""
    router = APIRouter(tags=["operations"], dependencies=[Depends(Permission(PUBLIC, "health"))])

    @router.get("/health", response_model=Health)
    def health() -> Health:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
        return Health(
            status="ok",
            version=__version__,
            database=db.engine.dialect.name,
            schema_revision=current_revision(db),
        )

    return router
