"""Podium: the open-source LLMOps platform. This package is the SDK applications import.

``import podium`` stays light (httpx and pydantic only): the server, database and model
libraries load only when embedded mode or the server is used.

    import podium

    with podium.start_run(experiment="baseline") as run:
        run.log_params({"lr": "0.01"})
        for step in range(100):
            run.log_metrics({"loss": 1 / (step + 1)}, step=step)
"""

from podium import errors
from podium._version import __version__
from podium.client import ActiveRun, Client, active_run, registry, start_run
from podium.client.tracing import (
    ActiveSpan,
    configure_tracing,
    current_span,
    flush,
    observe,
    shutdown_tracing,
    span,
    trace,
    tracing_stats,
)

__all__ = [
    "ActiveRun",
    "ActiveSpan",
    "Client",
    "__version__",
    "active_run",
    "configure_tracing",
    "current_span",
    "errors",
    "flush",
    "observe",
    "registry",
    "shutdown_tracing",
    "span",
    "start_run",
    "trace",
    "tracing_stats",
]
