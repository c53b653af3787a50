"""Tracing and monitoring: OTLP ingest of spans, GenAI mapping, costs, trace queries and stats."""
