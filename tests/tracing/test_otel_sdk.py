"""The real OpenTelemetry Python SDK, exporting OTLP/HTTP protobuf to a real ``podium server``."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from tests.conftest import LiveServer

pytestmark = pytest.mark.slow


def _export(server: LiveServer, compression: Compression) -> tuple[str, str]:
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/otlp/v1/traces",
        headers={"X-Podium-Project": "shop"},
        compression=compression,
        timeout=30,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.tracing")
    with tracer.start_as_current_span("handle-request") as root:
        root.set_attribute("user.id", "alice")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.provider.name", "openai")
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            llm.set_attribute("gen_ai.usage.input_tokens", 1200)
            llm.set_attribute("gen_ai.usage.output_tokens", 300)
            llm.set_attribute("podium.prompt.name", "checkout-helper")
            llm.set_attribute("podium.prompt.version", 2)
        with tracer.start_as_current_span("tool") as tool:
            tool.set_status(Status(StatusCode.ERROR, "tool timed out"))
    assert provider.force_flush(60_000)
    provider.shutdown()
    return format(root.get_span_context().trace_id, "032x"), format(
        llm.get_span_context().span_id, "016x"
    )


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_traces_are_queryable_with_model_tokens_and_cost(
    live_server: LiveServer, compression: Compression
) -> None:
    trace_id, llm_span = _export(live_server, compression)
    with httpx.Client(base_url=live_server.url + "/api/v1", timeout=30) as api:
        [listed] = api.get("/traces", params={"project": "shop"}).json()["items"]
        assert listed["trace_id"] == trace_id
        assert listed["name"] == "handle-request"
        assert listed["span_count"] == 3
        assert listed["error"] is True
        assert listed["model"] == "gpt-4o-2024-08-06"
        assert (listed["input_tokens"], listed["output_tokens"]) == (1200, 300)
        # gpt-4o: $2.50 / 1M input, $10 / 1M output
        assert listed["cost_usd"] == pytest.approx(1200 * 2.5e-6 + 300 * 10e-6)
        assert listed["user_id"] == "alice"
        assert (listed["prompt_name"], listed["prompt_version"]) == ("checkout-helper", 2)

        found = api.get("/traces", params={"project": "shop", "model": "gpt-4o-2024-08-06"})
        assert [t["trace_id"] for t in found.json()["items"]] == [trace_id]

        detail = api.get(f"/traces/{trace_id}", params={"project": "shop"}).json()
        [root] = detail["spans"]
        children = {c["name"]: c for c in root["children"]}
        assert set(children) == {"chat gpt-4o", "tool"}
        assert children["chat gpt-4o"]["span_id"] == llm_span
        assert children["chat gpt-4o"]["provider"] == "openai"
        assert children["chat gpt-4o"]["service_name"] == "checkout"
        assert children["tool"]["status"] == "error"
        assert children["tool"]["status_message"] == "tool timed out"
