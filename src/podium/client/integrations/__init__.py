"""Automatic tracing of third-party clients: ``openai`` (``instrument_openai``)."""
