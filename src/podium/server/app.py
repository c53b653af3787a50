"""The composition root: builds every store and service from ``Settings``, then the HTTP app.

``build(settings)`` is the only place that knows how the parts fit together; everything it
creates is handed down explicitly (no module-level singletons). ``create_app(services)`` mounts
each part's REST router under ``/api/v1``, its web pages under ``/``, and the operator routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from podium import __version__
from podium.access import routes as access_routes
from podium.access import ui as access_ui
from podium.access.audit import AuditLog
from podium.access.authz import AccessGate
from podium.access.keyfile import load_server_secret
from podium.access.service import AccessService, ProjectService
from podium.data import routes as data_routes
from podium.data import ui as data_ui
from podium.data.service import DataService
from podium.prompts import routes as prompts_routes
from podium.prompts import ui as prompts_ui
from podium.prompts.service import PromptService
from podium.registry import routes as registry_routes
from podium.registry import ui as registry_ui
from podium.registry.service import RegistryService
from podium.server import health, observability, problems, web
from podium.server.audit import AuditMiddleware
from podium.server.limits import BodySizeLimit
from podium.settings import Settings
from podium.store.blobs import BlobStore, open_blob_store
from podium.store.engine import Database, open_database
from podium.store.migrate import upgrade
from podium.tracing import routes as tracing_routes
from podium.tracing import ui as tracing_ui
from podium.tracing.pricing import PriceTable
from podium.tracing.service import TracingService
from podium.tracking import routes as tracking_routes
from podium.tracking import ui as tracking_ui
from podium.tracking.service import TrackingService
from podium.wire import PROBLEM_RESPONSES

API_PREFIX = "/api/v1"
# Uploads on these paths stream straight to the blob store, so the JSON body limit skips them.
STREAMING_UPLOAD_SUFFIXES = ("/content",)


@dataclass
class Services:
    """Every long-lived object of one Podium instance."""

    settings: Settings
    db: Database
    blobs: BlobStore
    projects: ProjectService
    access: AccessService
    audit: AuditLog
    tracking: TrackingService
    registry: RegistryService
    prompts: PromptService
    data: DataService
    tracing: TracingService

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


def build(settings: Settings) -> Services:
    """Open the stores named by ``settings``, migrate the database, and wire the services."""
    settings.home.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.resolved_database_url)
    upgrade(db)
    blobs = open_blob_store(
        settings.resolved_artifacts_url, s3_endpoint_url=settings.s3_endpoint_url
    )
    projects = ProjectService(db)
    access = AccessService(
        db,
        projects,
        load_server_secret(settings.secret_key, settings.home),
        session_hours=settings.session_hours,
        login_limit=settings.login_attempts,
        password_cost=settings.password_hash_cost,
    )
    tracking = TrackingService(db, blobs, projects)
    registry = RegistryService(db, blobs, projects, tracking)
    prompts = PromptService(db, projects)
    data = DataService(db, blobs, projects)
    services = Services(
        settings,
        db,
        blobs,
        projects,
        access,
        AuditLog(db),
        tracking,
        registry,
        prompts,
        data,
        tracing=TracingService(db, projects, _prices(settings)),
    )
    if settings.seed_demo:
        from podium.server.demo import seed_demo

        seed_demo(services)
    return services


def create_app(services: Services) -> FastAPI:
    """The ASGI app serving REST, web UI and operator routes for ``services``."""
    app = FastAPI(
        title="Podium",
        version=__version__,
        description="The open-source LLMOps platform.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.services = services
    # Per app, not per Services: two apps over one store (tests, embedded + server) must not
    # register the same collectors twice.
    metrics_registry = CollectorRegistry()
    app.state.access_gate = AccessGate(
        services.access, require_auth=not is_loopback(services.settings.host)
    )
    problems.install(app)

    for router in (
        health.build_router(services.db),
        access_routes.build_router(services.projects, services.access, services.audit),
        tracking_routes.build_router(services.tracking),
        registry_routes.build_router(services.registry),
        prompts_routes.build_router(services.prompts),
        tracing_routes.build_router(services.tracing),
        data_routes.build_router(services.data),
    ):
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    app.include_router(observability.build_router(metrics_registry))
    # OTLP exporters post to <endpoint>/v1/traces, outside the versioned REST API.
    app.include_router(
        tracing_routes.build_otlp_router(services.tracing, services.settings.max_body_bytes)
    )

    templates = web.templates()
    app.include_router(web.build_router(templates))
    app.include_router(
        access_ui.build_router(
            services.access,
            services.audit,
            templates,
            cookie_secure=services.settings.cookie_secure,
        )
    )
    app.include_router(tracking_ui.build_router(services.tracking, templates))
    app.include_router(registry_ui.build_router(services.registry, templates))
    app.include_router(prompts_ui.build_router(services.prompts, templates))
    app.include_router(data_ui.build_router(services.data, templates))
    app.include_router(tracing_ui.build_router(services.tracing, templates))
    web.mount_static(app)

    app.add_middleware(
        BodySizeLimit,
        max_bytes=services.settings.max_body_bytes,
        exempt=STREAMING_UPLOAD_SUFFIXES,
    )
    app.add_middleware(AuditMiddleware, audit_log=services.audit)
    app.add_middleware(observability.RequestMetrics, registry=metrics_registry)
    return app


def _prices(settings: Settings) -> PriceTable:
    """The trace price table: ``PODIUM_PRICES_FILE`` when set, else the shipped one."""
    return PriceTable.load(settings.prices_file) if settings.prices_file else PriceTable.load()


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def app_from_env() -> Any:
    """Uvicorn factory: the app for the settings in the environment (``podium server`` uses it)."""
    return create_app(build(Settings()))
