"""The one settings object: every ``PODIUM_*`` environment variable is declared here.

Only the entry points (``podium.cli.main``, ``podium.server.app.build``'s callers) read the
environment; everything below receives a ``Settings`` instance. Each field's description is its
documentation: ``docs/configuration.md`` lists them all, and a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".podium"


class Settings(BaseSettings):
    """Podium's configuration, read from ``PODIUM_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_", extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=_default_home,
        description="Folder for the SQLite database and local blobs when no URL says otherwise.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the metadata database. Unset: SQLite at `$PODIUM_HOME/podium.db`. "
            "PostgreSQL: `postgresql+psycopg://user:pass@host:5432/db` (needs `podium[postgres]`)."
        ),
    )
    artifacts_url: str | None = Field(
        default=None,
        description=(
            "Where blobs (artifacts, model files, dataset snapshots) are stored. Unset: the "
            "folder `$PODIUM_HOME/blobs`. Also `file:///abs/path` or `s3://bucket/prefix` "
            "(needs `podium[s3]`)."
        ),
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description=(
            "Endpoint of an S3-compatible store (MinIO, moto, Ceph) for `s3://` artifact URLs; "
            "unset for AWS S3. Credentials come from the usual AWS variables."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `podium server` binds to.")
    port: int = Field(default=5005, ge=0, le=65535, description="Port `podium server` listens on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Server log level."
    )
    url: str | None = Field(
        default=None,
        description=(
            "URL of a running Podium server for the SDK and CLI, e.g. `http://127.0.0.1:5005`. "
            "Unset: they run the same API in-process against the local store (embedded mode)."
        ),
    )
    api_key: str | None = Field(
        default=None,
        repr=False,
        description=(
            "API key the SDK and CLI send as `Authorization: Bearer` to a server at `PODIUM_URL` "
            "(create one with `podium keys create`)."
        ),
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest JSON request body the REST API accepts; larger ones get HTTP 413.",
    )
    secret_key: str | None = Field(
        default=None,
        repr=False,
        description=(
            "Server secret that keys API-key hashes. Unset: generated once into "
            "`$PODIUM_HOME/secret.key`. Set the same value on every replica of a scaled-out server."
        ),
    )
    session_hours: int = Field(
        default=12, gt=0, le=24 * 30, description="How long a UI login session lasts."
    )
    login_attempts: int = Field(
        default=5,
        gt=0,
        description="Failed logins allowed per user and per client address within 15 minutes.",
    )
    password_hash_cost: int = Field(
        default=14,
        ge=10,
        le=20,
        description=(
            "scrypt work factor for UI passwords (N = 2^cost; 14 takes about 0.1 s a hash). "
            "Existing hashes keep the cost they were made with."
        ),
    )
    cookie_secure: bool = Field(
        default=False,
        description=(
            "Mark the session cookie `Secure` even over plain HTTP (set it behind a TLS proxy); "
            "cookies on HTTPS requests are always `Secure`."
        ),
    )
    seed_demo: bool = Field(
        default=False,
        description="Seed a demo project (runs with metric curves, a registered model) on start.",
    )
    prices_file: Path | None = Field(
        default=None,
        description=(
            "JSON price table for trace costs (model -> [USD per 1M input tokens, per 1M output "
            "tokens]) used instead of the shipped one; see docs/tracing.md."
        ),
    )
    trace_retention_days: int = Field(
        default=0,
        ge=0,
        description=(
            "Traces older than this many days are deleted by a background job of the server; "
            "0 keeps them forever."
        ),
    )
    trace_retention_interval_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Minutes between two runs of the trace retention job.",
    )
    trace_queue_size: int = Field(
        default=10_000,
        ge=1,
        description=(
            "SDK: spans waiting to be sent; when full (server down or slow) new spans are "
            "dropped and counted (`podium.tracing_stats()`)."
        ),
    )
    trace_batch_size: int = Field(
        default=512, ge=1, description="SDK: most spans sent in one OTLP request."
    )
    trace_flush_interval: float = Field(
        default=1.0, gt=0, description="SDK: seconds between two sends of the spans waiting."
    )
    drift_permutations: int = Field(
        default=500,
        ge=10,
        le=20_000,
        description=(
            "Permutations of a drift check's embedding test (more: finer p-values, slower); "
            "raised automatically so the smallest p-value can pass the corrected alpha."
        ),
    )
    drift_max_embeddings: int = Field(
        default=300,
        ge=10,
        le=5000,
        description="Texts per window that a drift check embeds (a random sample beyond this).",
    )
    drift_max_spans: int = Field(
        default=5000,
        ge=10,
        description="Spans per window that a drift check reads (a random sample beyond this).",
    )
    alert_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between two evaluations of the alert rules by the server.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one alert webhook delivery attempt."
    )
    webhook_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description=(
            "Retries of a failed alert webhook delivery, with exponential backoff "
            "(0.5 s, 1 s, 2 s …)."
        ),
    )
    metrics_window_s: int = Field(
        default=300,
        gt=0,
        description="Window of the per-project trace figures exported at `/metrics` (seconds).",
    )
    gateway_config: Path | None = Field(
        default=None,
        description=(
            "YAML file of gateway routes (public model name -> deployments) applied on every "
            "start; see docs/gateway.md."
        ),
    )
    gateway_span_queue: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Gateway request spans waiting to be written to tracing; beyond it spans are dropped "
            "and counted rather than slowing requests down."
        ),
    )

    model_cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "podium" / "models",
        description=(
            "Folder where local model weights are exported once for fast loading (SmolLM2's "
            "GGUF becomes a plain Hugging Face folder of about 520 MB); see docs/local-models.md."
        ),
    )
    local_int8: bool = Field(
        default=False,
        description=(
            "Serve the local model with dynamic int8 quantization of its Linear layers "
            "(smaller and often faster on CPU; answers may differ slightly)."
        ),
    )
    local_warmup: bool = Field(
        default=False,
        description=(
            "Load the local models that gateway routes use in the background when the server "
            "starts, so the first request does not wait for them (`make run` turns it on)."
        ),
    )
    local_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="CPU threads torch uses for local models; 0 keeps torch's default.",
    )
    local_max_batch: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Most requests the local model decodes together; more wait for a free slot.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one or SQLite in the home folder."""
        return self.database_url or f"sqlite:///{self.home / 'podium.db'}"

    @property
    def resolved_artifacts_url(self) -> str:
        """The blob store URL in use: the configured one or a folder in the home folder."""
        return self.artifacts_url or (self.home / "blobs").as_uri()
