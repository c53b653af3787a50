"""The Python SDK: ``Client`` for the REST API and ``start_run`` for experiment tracking."""

from podium.client import registry
from podium.client.api import Client
from podium.client.runs import ActiveRun, active_run, start_run

__all__ = ["ActiveRun", "Client", "active_run", "registry", "start_run"]
