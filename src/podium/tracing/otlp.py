"""Decoding OTLP/HTTP trace requests and mapping spans onto Podium's columns.

``decode_request`` turns a request body (protobuf or OTLP JSON, optionally gzip) into an
``ExportTraceServiceRequest``; ``map_request`` flattens it into ``SpanRecord``s, rejecting spans
with missing or invalid ids one by one so the valid spans of a batch are kept.

Two attribute vocabularies are read:

* OpenTelemetry GenAI semantic conventions: ``gen_ai.provider.name`` (``gen_ai.system`` in older
  versions), ``gen_ai.request.model`` / ``gen_ai.response.model``, ``gen_ai.operation.name``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens`` (``prompt_tokens`` / ``completion_tokens`` in
  older versions), and prompt/completion content from ``gen_ai.prompt`` / ``gen_ai.completion``
  attributes or from the span's message events (``gen_ai.user.message``, ``gen_ai.choice`` …);
* OpenInference: ``llm.model_name``, ``llm.provider``, ``llm.token_count.prompt`` /
  ``completion``, ``input.value``, ``output.value``, ``session.id``, ``user.id``.

Podium's own ``podium.prompt.name`` / ``podium.prompt.version`` link a span to a prompt version,
and ``podium.tags`` (or OpenInference ``tag.tags``) tag its trace. A span with a model and
input/output text but no token counts gets counts estimated by ``tokens`` (and the attribute
``podium.tokens_estimated=true``), so it is priced too.
Every attribute is also kept as JSON, so nothing the instrumentation sent is lost.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from podium.errors import InvalidInput, PayloadTooLarge
from podium.tracing import tokens
from podium.tracing.models import SpanRecord
from podium.tracing.pricing import PriceTable

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Stored input/output text is cut here; the full value stays in the attributes only if small.
MAX_TEXT_CHARS = 32_000
MAX_ATTRIBUTE_CHARS = 8_000
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUSES = {0: "unset", 1: "ok", 2: "error"}
_MAX_INT32 = 2**31 - 1  # token and version columns are 32-bit integers


class UnsupportedMediaType(InvalidInput):
    """A body in an encoding the OTLP endpoint does not read."""

    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


@dataclass(frozen=True)
class Decoded:
    """The spans of one request that can be stored, and what was rejected."""

    spans: list[SpanRecord]
    rejected: int
    errors: list[str]


def encoding_of(content_type: str | None) -> str:
    """``PROTOBUF`` or ``JSON`` for a Content-Type header; ``UnsupportedMediaType`` otherwise."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if media == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"OTLP traces must be sent as {PROTOBUF} or {JSON}, not {media or 'no Content-Type'!r}; "
        "set OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf on the exporter",
        field="content-type",
    )


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body with its ``Content-Encoding`` (gzip, deflate) undone; at most ``max_bytes``."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        return body
    if coding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(
            f"Content-Encoding {coding!r} is not supported; send gzip or no compression",
            field="content-encoding",
        )
    # wbits 16+MAX_WBITS reads gzip, MAX_WBITS zlib; cap the output so a small bomb stays small.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidInput(
            f"the body is not valid {coding} data ({exc}); check Content-Encoding",
            field="body",
        ) from exc
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"the decompressed body is larger than {max_bytes} bytes; export smaller batches "
            "(OTEL_BSP_MAX_EXPORT_BATCH_SIZE)"
        )
    return out


def decode_request(body: bytes, encoding: str) -> ExportTraceServiceRequest:
    """Parse an (uncompressed) body; ``InvalidInput`` naming the problem when it does not parse."""
    if encoding == PROTOBUF:
        try:
            return ExportTraceServiceRequest.FromString(body)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise InvalidInput(
                f"the body is not a valid OTLP ExportTraceServiceRequest protobuf ({exc})",
                field="body",
            ) from exc
    request = ExportTraceServiceRequest()
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the top level must be an object with 'resourceSpans'")
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInput(
            f"the body is not a valid OTLP JSON ExportTraceServiceRequest: {exc}", field="body"
        ) from exc
    return request


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP JSON writes ids as hex, protobuf's JSON mapping reads bytes as base64: convert.

    An id that is not hex becomes empty, so that span alone is rejected later.
    """
    for resource_spans in _list(document.get("resourceSpans")):
        for scope_spans in _list(_dict(resource_spans).get("scopeSpans")):
            for span in _list(_dict(scope_spans).get("spans")):
                for holder in (span, *_list(_dict(span).get("links"))):
                    if not isinstance(holder, dict):
                        continue
                    for key in _ID_FIELDS:
                        value = holder.get(key)
                        if isinstance(value, str):
                            holder[key] = _hex_to_base64(value)


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def encode_response(rejected: int, errors: list[str], encoding: str) -> bytes:
    """The ExportTraceServiceResponse body: empty, or a partial success naming the rejections."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = "; ".join(errors[:10])
    if encoding == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode("utf-8")


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return value.bytes_value.hex()
    found = getattr(value, which)
    if isinstance(found, str):
        return _clean(found)[:MAX_ATTRIBUTE_CHARS]
    return found


def _attributes(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        kv: KeyValue = pair
        out[_clean(kv.key)] = _value(kv.value)
    return out


def _hex_id(raw: bytes, size: int) -> str | None:
    """Lowercase hex of a ``size``-byte id, or None when missing, all zero or the wrong size."""
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_TEXT_CHARS]


def _clean(text: str) -> str:
    # PostgreSQL text and JSONB cannot hold NUL characters; one must not sink a whole batch.
    return text.replace("\x00", "") if "\x00" in text else text


def _int(value: Any) -> int | None:
    """A count from an attribute, or None when it is not a whole number in 0..2^31-1."""
    if isinstance(value, bool):
        return None
    found: int | None = None
    if isinstance(value, int):
        found = value
    elif isinstance(value, float) and value.is_integer():
        found = int(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
        found = int(value.strip())
    return found if found is not None and 0 <= found <= _MAX_INT32 else None


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


_INPUT_EVENTS = ("gen_ai.system.message", "gen_ai.user.message", "gen_ai.content.prompt")
_OUTPUT_EVENTS = ("gen_ai.choice", "gen_ai.assistant.message", "gen_ai.content.completion")


def _event_text(events: list[dict[str, Any]], names: tuple[str, ...]) -> str | None:
    """Content carried by GenAI message events (one JSON line per message)."""
    parts: list[str] = []
    for event in events:
        if event["name"] not in names:
            continue
        attrs = event["attributes"]
        content = _first(attrs, "content", "gen_ai.prompt", "gen_ai.completion", "message")
        parts.append(content if isinstance(content, str) else json.dumps(attrs, default=str))
    return _text("\n".join(parts)) if parts else None


def map_span(
    span: Any, resource: dict[str, Any], scope: str, prices: PriceTable
) -> SpanRecord | str:
    """The ``SpanRecord`` for one protobuf span, or the reason it is rejected."""
    trace_id = _hex_id(span.trace_id, 16)
    span_id = _hex_id(span.span_id, 8)
    if trace_id is None:
        return f"span {span.name[:100]!r}: trace_id must be 16 non-zero bytes"
    if span_id is None:
        return f"span {span.name[:100]!r} in trace {trace_id}: span_id must be 8 non-zero bytes"
    parent = _hex_id(span.parent_span_id, 8)
    attrs = _attributes(span.attributes)
    events = [
        {
            "name": _clean(event.name),
            "time_ms": event.time_unix_nano // 1_000_000,
            "attributes": _attributes(event.attributes),
        }
        for event in span.events
    ]
    start_ns = span.start_time_unix_nano
    end_ns = max(span.end_time_unix_nano, start_ns)
    model = _text(_first(attrs, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name"))
    input_tokens = _int(
        _first(
            attrs,
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
        )
    )
    output_tokens = _int(
        _first(
            attrs,
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        )
    )
    status = _STATUSES.get(span.status.code, "unset")
    message = span.status.message
    if status != "error" and any(e["name"] == "exception" for e in events):
        status = "error"
    if status == "error" and not message:
        exc = next((e for e in events if e["name"] == "exception"), None)
        if exc is not None:
            message = str(exc["attributes"].get("exception.message", ""))
    input_text = _text(_first(attrs, "gen_ai.prompt", "input.value")) or _event_text(
        events, _INPUT_EVENTS
    )
    output_text = _text(_first(attrs, "gen_ai.completion", "output.value")) or _event_text(
        events, _OUTPUT_EVENTS
    )
    if scope:
        attrs.setdefault("otel.scope.name", scope)
    if model and input_tokens is None and output_tokens is None and (input_text or output_text):
        # The provider reported no usage: count the text ourselves and say so.
        input_tokens = tokens.count_tokens(input_text) if input_text else None
        output_tokens = tokens.count_tokens(output_text) if output_text else None
        if input_tokens is not None or output_tokens is not None:
            attrs["podium.tokens_estimated"] = True
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=_clean(span.name)[:500],
        kind=_KINDS.get(span.kind, "unspecified"),
        start_time=start_ns // 1_000_000,
        duration_ms=(end_ns - start_ns) / 1_000_000,
        status=status,
        status_message=_clean(message)[:2000],
        service_name=_short(resource.get("service.name")),
        model=model[:200] if model else None,
        provider=_short(_first(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider")),
        operation=_short(_first(attrs, "gen_ai.operation.name", "openinference.span.kind")),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=prices.cost(model, input_tokens, output_tokens),
        input_text=input_text,
        output_text=output_text,
        session_id=_short(_first(attrs, "session.id", "gen_ai.conversation.id")),
        user_id=_short(_first(attrs, "user.id", "enduser.id")),
        prompt_name=_short(attrs.get("podium.prompt.name")),
        prompt_version=_int(attrs.get("podium.prompt.version")),
        attributes={**attrs, "resource": resource} if resource else attrs,
        events=events,
        tags=_tags(_first(attrs, "podium.tags", "tag.tags")),
    )


MAX_TAGS = 50


def _tags(value: Any) -> tuple[str, ...]:
    """Tags from a list attribute (or one comma-separated string), cleaned and deduplicated."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    found = {str(item).strip()[:200] for item in items if item is not None}
    return tuple(sorted(t for t in found if t))[:MAX_TAGS]


def _short(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)[:200]


def map_request(request: ExportTraceServiceRequest, prices: PriceTable) -> Decoded:
    """Every span of ``request`` mapped to a record; invalid ones counted and explained."""
    spans: list[SpanRecord] = []
    errors: list[str] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = _clean(scope_spans.scope.name)
            for span in scope_spans.spans:
                mapped = map_span(span, resource, scope, prices)
                if isinstance(mapped, str):
                    errors.append(mapped)
                else:
                    spans.append(mapped)
    return Decoded(spans, len(errors), errors)
