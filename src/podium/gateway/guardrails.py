"""Guardrail hook points around the model, and the built-in PII-redaction guardrail.

A ``Guardrail`` sees the request before it reaches the provider (``before``) and the response
(or each streamed chunk) after (``after``); it returns the possibly rewritten object, or raises
``GuardrailBlocked`` to refuse the request with a 400. Routes name the guardrails they run in
their spec (``guardrails: [pii_redaction]``); the governance work adds more through the same
``GUARDRAILS`` registry.

``PiiRedaction`` replaces e-mail addresses, phone numbers and payment-card numbers (those that
pass the Luhn check, so order numbers survive) with ``[EMAIL]``, ``[PHONE]`` and ``[CARD]`` in
message contents, prompts, embedding inputs and model outputs. A streamed answer is redacted
chunk by chunk, so a number split across two chunks passes: documented in docs/gateway.md.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from podium.gateway.providers.base import JSONObject

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Digit groups joined by separators ("+1 415 555 0100", "(030) 1234-5678"); a bare run of
# digits (an order number) is not taken for a phone number.
PHONE = re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]\(?\d{2,4}\)?){2,5}(?!\w)")


class GuardrailBlocked(Exception):
    """A guardrail refused the request; the message says why."""


class Guardrail(Protocol):
    """A hook before and after the model call."""

    name: str

    def before(self, operation: str, request: JSONObject) -> JSONObject:
        """The request to send on (may rewrite it); ``GuardrailBlocked`` to refuse."""
        ...

    def after(self, operation: str, response: JSONObject) -> JSONObject:
        """The response (or stream chunk) to return (may rewrite it)."""
        ...


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum (payment cards)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def redact_text(text: str) -> str:
    """``text`` with e-mails, Luhn-valid card numbers and phone numbers replaced."""
    text = EMAIL.sub("[EMAIL]", text)

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "[CARD]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group()

    text = CARD.sub(card, text)

    def phone(match: re.Match[str]) -> str:
        found = match.group()
        digits = re.sub(r"\D", "", found)
        # Dates and versions (2024-05-01) have few digits and no '+' or '(': keep them.
        likely = found.startswith(("+", "(")) or len(digits) >= 10
        return "[PHONE]" if 7 <= len(digits) <= 15 and likely else found

    return PHONE.sub(phone, text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, dict):
        return {
            k: (_redact(v) if k in ("content", "text", "input", "prompt") else v)
            for k, v in value.items()
        }
    return value


class PiiRedaction:
    """Redacts e-mails, phone numbers and card numbers on the way in and out."""

    name = "pii_redaction"

    def before(self, operation: str, request: JSONObject) -> JSONObject:
        """Redact message contents, prompts and embedding inputs."""
        out = dict(request)
        for field in ("messages", "prompt", "input"):
            if field in out:
                out[field] = _redact(out[field])
        return out

    def after(self, operation: str, response: JSONObject) -> JSONObject:
        """Redact generated text in choices (messages, deltas and completions)."""
        choices = response.get("choices")
        if not isinstance(choices, list):
            return response
        out = dict(response)
        out["choices"] = [
            {k: (_redact(v) if k in ("message", "delta", "text") else v) for k, v in choice.items()}
            if isinstance(choice, dict)
            else choice
            for choice in choices
        ]
        return out


GUARDRAILS: dict[str, Guardrail] = {"pii_redaction": PiiRedaction()}
