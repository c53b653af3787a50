"""Prompt registry: versioned prompt templates with labels, rendering, diffs and lineage.

This package is also the SDK entry point, so it imports only the light SDK module::

    import podium.prompts

    prompt = podium.prompts.get("support-reply", label="production")
    prompt.render(customer="Ada")

The server side lives in the submodules (``podium.prompts.service``, ``.routes``, ``.ui``,
``.cli``), which the server imports directly.
"""

from podium.client.prompts import Prompt, clear_cache, get, push

__all__ = ["Prompt", "clear_cache", "get", "push"]
