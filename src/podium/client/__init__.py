"""The Python SDK: ``Client`` for the REST API and ``start_run`` for experiment tracking."""

from podium.client.api import Client
from podium.client.runs import ActiveRun, start_run

__all__ = ["ActiveRun", "Client", "start_run"]
