"""The composition root: builds every store and service from ``Settings``, then the HTTP app.

``build(settings)`` is the only place that knows how the parts fit together; everything it
creates is handed down explicitly (no module-level singletons). ``create_app(services)`` mounts
each part's REST router under ``/api/v1``, its web pages under ``/``, and the operator routes.
"""

from __future__ import annotations

import os
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
from podium.evals import routes as evals_routes
from podium.evals import ui as evals_ui
from podium.evals.service import EvalService
from podium.gateway import routes as gateway_routes
from podium.gateway import serving as gateway_serving
from podium.gateway import ui as gateway_ui
from podium.gateway.dispatch import Gateway
from podium.gateway.recorder import SpanRecorder
from podium.gateway.service import GatewayService
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
from podium.tracing import monitoring_routes, monitoring_ui
from podium.tracing import routes as tracing_routes
from podium.tracing import ui as tracing_ui
from podium.tracing.alerts_service import AlertEvaluator, AlertService
from podium.tracing.drift import DriftDetector
from podium.tracing.monitoring_metrics import TraceFiguresCollector
from podium.tracing.monitoring_service import MonitoringService
from podium.tracing.pricing import PriceTable
from podium.tracing.retention import RetentionJob
from podium.tracing.service import TracingService
from podium.tracing.webhooks import WebhookSender
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
    evals: EvalService
    gateway: Gateway
    monitoring: MonitoringService
    alerts: AlertService
    alert_evaluator: AlertEvaluator
    trace_retention: RetentionJob | None = None

    def close(self) -> None:
        """Release database connections."""
        self.alert_evaluator.stop()
        if self.trace_retention is not None:
            self.trace_retention.stop()
        self.gateway.close()
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
    tracing = TracingService(db, projects, _prices(settings))
    data = DataService(db, blobs, projects, tracing)
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
        tracing=tracing,
        evals=EvalService(db, projects, tracking),
        gateway=_gateway(settings, db, projects, prompts, registry, tracing),
        **_monitoring(settings, db, projects),
    )
    services.trace_retention = RetentionJob(
        services.tracing,
        settings.trace_retention_days,
        settings.trace_retention_interval_minutes * 60,
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
    # OpenAI-compatible /v1 (outside the versioned REST API), errors in OpenAI's format; first,
    # so the hot path matches its route before walking the whole route table.
    gateway_serving.install(app, services.gateway, warm_up=services.settings.local_warmup)

    for router in (
        health.build_router(services.db),
        access_routes.build_router(services.projects, services.access, services.audit),
        tracking_routes.build_router(services.tracking),
        registry_routes.build_router(services.registry),
        prompts_routes.build_router(services.prompts),
        # Before the tracing routes, so /traces/timeseries is not read as a trace id.
        monitoring_routes.build_router(services.monitoring),
        monitoring_routes.build_alerts_router(services.alerts),
        tracing_routes.build_router(services.tracing),
        data_routes.build_router(services.data),
        evals_routes.build_router(services.evals),
        gateway_routes.build_router(services.gateway),
    ):
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    app.include_router(observability.build_router(metrics_registry))
    metrics_registry.register(
        TraceFiguresCollector(
            services.monitoring, services.alerts, services.settings.metrics_window_s
        )
    )
    monitoring_routes.install_evaluator(app, services.alert_evaluator)
    if services.trace_retention is not None:
        tracing_routes.install_retention(app, services.trace_retention)
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
    app.include_router(  # before the trace pages: /traces/dashboard is not a trace id
        monitoring_ui.build_router(services.monitoring, services.alerts, templates)
    )
    app.include_router(tracing_ui.build_router(services.tracing, templates))
    app.include_router(evals_ui.build_router(services.evals, templates))
    app.include_router(gateway_ui.build_router(services.gateway, templates, services.audit))
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


def _gateway(
    settings: Settings,
    db: Database,
    projects: ProjectService,
    prompts: PromptService,
    registry: RegistryService,
    tracing: TracingService,
) -> Gateway:
    """The serving path, with the routes of ``PODIUM_GATEWAY_CONFIG`` applied."""
    service = GatewayService(db, projects, AuditLog(db))
    if settings.gateway_config is not None:
        try:
            service.apply_file(settings.gateway_config, actor="config")
        except Exception:
            db.dispose()  # the server will not start; leave no connections behind
            raise
    recorder = SpanRecorder(tracing, capacity=settings.gateway_span_queue)
    # Upstream API keys are read from the variables the routes name, here at the entry point.
    return Gateway(
        service,
        prompts,
        _prices(settings),
        recorder,
        environ=os.environ,
        settings=settings,
        registry=registry,
        scores=tracing.mean_scores,
    )


def _monitoring(settings: Settings, db: Database, projects: ProjectService) -> dict[str, Any]:
    """Dashboards, drift and alerting: the ``monitoring``, ``alerts`` and ``alert_evaluator``."""
    detector = DriftDetector(
        permutations=settings.drift_permutations, max_embeddings=settings.drift_max_embeddings
    )
    monitoring = MonitoringService(db, projects, detector, drift_max_spans=settings.drift_max_spans)
    webhooks = WebhookSender(timeout_s=settings.webhook_timeout_s, retries=settings.webhook_retries)
    alerts = AlertService(db, projects, monitoring, webhooks)
    return {
        "monitoring": monitoring,
        "alerts": alerts,
        "alert_evaluator": AlertEvaluator(alerts, settings.alert_interval_s),
    }


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def app_from_env() -> Any:
    """Uvicorn factory: the app for the settings in the environment (``podium server`` uses it)."""
    return create_app(build(Settings()))
