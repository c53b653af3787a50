"""``Client``: a thin, typed door to the REST API shared by the SDK and the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx

from podium import errors
from podium.client._transport import connect, raise_for_problem

_RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class Client:
    """Talks to a Podium server at ``url`` (or ``PODIUM_URL``), or in-process when neither is set.

    Every method raises ``podium.errors`` classes; ``ServiceUnavailable`` when a server cannot
    be reached.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        settings: Any = None,
        http: httpx.Client | None = None,
    ) -> None:
        if url is None and settings is None and http is None:
            url = _env("PODIUM_URL")
        if api_key is None and http is None:
            api_key = _env("PODIUM_API_KEY")
        self.url = url
        self.http = http or connect(url, settings=settings, api_key=api_key)

    # -- raw requests ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
        retries: int = 0,
    ) -> Any:
        """Send a request; return the decoded JSON body (None for 204)."""
        attempt = 0
        while True:
            try:
                response = self.http.request(
                    method, path, json=json, params=params, content=content, headers=headers
                )
                break
            except _RETRYABLE as exc:
                if attempt >= retries:
                    raise errors.ServiceUnavailable(
                        f"cannot reach the Podium server at {self.url}: {exc}; start it with "
                        "`podium server` or fix PODIUM_URL"
                    ) from exc
                attempt += 1
            except httpx.TimeoutException as exc:
                raise errors.ServiceUnavailable(
                    f"the Podium server at {self.url} did not answer in time: {exc}"
                ) from exc
        raise_for_problem(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` with query ``params`` (None values dropped)."""
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, json=body, **kwargs)

    def paginate(self, path: str, **params: Any) -> Iterator[Any]:
        """Yield every item of a paged listing."""
        offset = 0
        while True:
            page = self.get(path, offset=offset, **params)
            yield from page["items"]
            if page.get("next_offset") is None:
                return
            offset = page["next_offset"]

    def download(self, path: str, params: dict[str, Any] | None = None) -> Iterator[bytes]:
        """Stream a binary response in chunks."""
        with self.http.stream("GET", path, params=params) as response:
            if not response.is_success:
                response.read()
                raise_for_problem(response)
            yield from response.iter_bytes()

    def close(self) -> None:
        """Close connections (and the in-process app in embedded mode)."""
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _env(name: str) -> str | None:
    # The SDK is an entry point: like the CLI it reads its PODIUM_* variables (see Settings).
    return os.environ.get(name) or None
