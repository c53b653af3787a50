"""Without torch, Podium still imports and serves; local features name the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    sys.modules["torch"] = None  # any `import torch` now fails, find_spec says missing
    sys.modules["transformers"] = None
    import podium, podium.local_models, podium.server.app, podium.cli.main
    from podium.errors import MissingExtra
    from podium.gateway.providers.base import ProviderError
    from podium.gateway.providers.local import LocalProvider
    from podium.local_models.embeddings import Embedder, embed_texts
    try:
        embed_texts(["x"])
    except MissingExtra as exc:
        print("embed:", exc.message)
    provider = LocalProvider()
    request = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]}
    try:
        asyncio.run(provider.chat(request))
    except ProviderError as exc:
        print("chat:", exc.status, exc.retryable, exc.message)
    """
)


def test_podium_imports_and_local_features_name_the_extra_without_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        "embed: Local embeddings needs the optional 'local' dependencies: "
        "pip install 'podium[local]'",
        "chat: 501 False The local model needs the optional 'local' dependencies: "
        "pip install 'podium[local]'",
    ]


def test_importing_the_server_and_provider_does_not_import_torch() -> None:
    script = (
        "import sys, podium, podium.server.app, podium.cli.main, podium.gateway.providers.local;"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
