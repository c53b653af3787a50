"""A ``route`` target calls the gateway of the Podium the run reports to (a real server on
loopback over this test's database, both databases): no URL in the suite, the suite's project
picks the route, and mistakes in the target say what to drop.

(The app in-process works too, but its gateway's upstream connections outlive each in-process
request's event loop, which this suite's strict warnings turn into errors; see the report.)"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from podium.client import Client
from podium.errors import InvalidInput
from podium.evals.runner import run_suite
from podium.evals.suite import parse_suite
from podium.gateway.models import RouteSpec
from podium.server.app import Services
from tests.evals.conftest import FakeOpenAI, qa_jsonl
from tests.gateway.conftest import serving


@pytest.fixture
def server_client(services: Services) -> Iterator[Client]:
    """The SDK client of a real server over this test's services."""
    with serving(services) as running, Client(running.url) as client:
        yield client


def put_route(services: Services, project: str, name: str, url: str, model: str) -> None:
    spec = RouteSpec.model_validate(
        {"deployments": [{"name": "d", "model": model, "base_url": url}]}
    )
    services.gateway.service.put_route(project, name, spec, actor="test")


def test_a_route_target_uses_the_suites_project_route(
    services: Services, server_client: Client, fake_openai: FakeOpenAI
) -> None:
    services.projects.ensure("team")
    for project in ("default", "team"):
        services.data.import_rows(project, "qa", io.BytesIO(qa_jsonl()))
    # The same route name in two projects, answering differently.
    put_route(services, "default", "chat", fake_openai.url, "good")
    put_route(services, "team", "chat", fake_openai.url, "weak")
    before = fake_openai.calls.get("weak", 0)

    def run(project: str) -> dict[str, float]:
        suite = parse_suite(
            {
                "name": "routes",
                "project": project,
                "dataset": "qa",
                "targets": [{"route": "chat", "params": {"temperature": 0}}],
                "scorers": ["exact_match"],
            }
        )
        (outcome,) = run_suite(suite, server_client)
        assert outcome.target == "chat"  # the route names the target
        metrics: dict[str, float] = outcome.experiment["metrics"]
        return metrics

    assert run("default")["exact_match"] == 1.0
    team = run("team")
    assert (team["exact_match"], team["error_rate"]) == (0.5, 0.0)
    assert fake_openai.calls["weak"] - before == 6


def test_an_unknown_route_fails_every_item_with_the_gateways_message(
    server_client: Client, qa_dataset: int
) -> None:
    suite = parse_suite(
        {"name": "nope", "dataset": "qa", "targets": [{"route": "missing"}], "scorers": ["f1"]}
    )
    (outcome,) = run_suite(suite, server_client)
    assert outcome.experiment["metrics"]["error_rate"] == 1.0
    items = list(server_client.paginate(f"/evals/experiments/{outcome.experiment['id']}/items"))
    assert len(items) == 6
    assert all("/v1/chat/completions refused model 'missing'" in i["error"] for i in items)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"route": "chat", "url": "http://x/v1"}, "drop 'python', 'url', 'model'"),
        ({"route": "chat", "model": "m"}, "drop 'python', 'url', 'model'"),
        ({"route": "chat", "python": "m:f"}, "drop 'python', 'url', 'model'"),
        ({"route": " "}, "targets.0.route must name a gateway route"),
    ],
)
def test_route_targets_refuse_mixed_definitions(target: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_suite({"name": "s", "dataset": "qa", "targets": [target], "scorers": ["f1"]})
    assert caught.value.field == "targets.0"
