"""Gateway: OpenAI-compatible serving with routes, A/B splits, canaries, limits and guardrails.

Where things live: ``models`` (route specs), ``sql`` and ``service`` (the control plane: routes,
history, limits), ``dispatch`` (the serving path: routing, retries, breakers, cache, spans),
``serving`` (the ``/v1`` endpoints), ``routes`` / ``cli`` / ``ui`` (REST, ``podium gateway``, the
pages) and ``providers`` (upstream and local model providers). The server imports the submodules
directly; importing this package loads nothing.
"""
