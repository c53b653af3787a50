"""Every error the REST API returns is one RFC 9457 problem+json shape; no 500 on user input."""

from __future__ import annotations

import httpx
import pytest

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


def test_unknown_object_is_404(http: httpx.Client) -> None:
    body = _assert_problem(http.get("/api/v1/projects/nope"), 404)
    assert "nope" in str(body["detail"])


def test_unknown_route_is_404_problem(http: httpx.Client) -> None:
    _assert_problem(http.get("/api/v1/no-such-thing"), 404)


def test_wrong_method_is_405_problem(http: httpx.Client) -> None:
    _assert_problem(http.delete("/api/v1/health"), 405)


def test_wrong_type_names_the_field(http: httpx.Client) -> None:
    body = _assert_problem(http.post("/api/v1/projects", json={"name": 42}), 422)
    assert body["field"] == "name"


def test_missing_field_names_it(http: httpx.Client) -> None:
    body = _assert_problem(http.post("/api/v1/projects", json={}), 422)
    assert body["field"] == "name"


def test_unknown_field_is_rejected(http: httpx.Client) -> None:
    body = _assert_problem(http.post("/api/v1/projects", json={"name": "a", "nmae": 1}), 422)
    assert body["field"] == "nmae"


@pytest.mark.parametrize("payload", [b"{bad json", b"", b"[1, 2", b"\xff\xfe"])
def test_malformed_json_is_422(http: httpx.Client, payload: bytes) -> None:
    response = http.post(
        "/api/v1/projects", content=payload, headers={"content-type": "application/json"}
    )
    _assert_problem(response, 422)


def test_invalid_name_says_what_is_allowed(http: httpx.Client) -> None:
    body = _assert_problem(http.post("/api/v1/projects", json={"name": "../etc"}), 422)
    assert "letters, digits" in str(body["detail"])


def test_duplicate_is_409(http: httpx.Client) -> None:
    assert http.post("/api/v1/projects", json={"name": "dup"}).status_code == 201
    body = _assert_problem(http.post("/api/v1/projects", json={"name": "dup"}), 409)
    assert "already exists" in str(body["detail"])


def test_huge_body_is_413_before_it_is_read(http: httpx.Client) -> None:
    big = b'{"name": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    response = http.post(
        "/api/v1/projects", content=big, headers={"content-type": "application/json"}
    )
    body = _assert_problem(response, 413)
    assert "PODIUM_MAX_BODY_BYTES" in str(body["detail"])


def test_huge_chunked_body_is_413(http: httpx.Client) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(17):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = http.post(
        "/api/v1/projects", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_problem(response, 413)


def test_nul_characters_are_422_not_500(http: httpx.Client) -> None:
    response = http.get("/api/v1/projects/a%00b")
    assert response.status_code in (404, 422), response.text


def test_nul_in_a_created_name_is_422(http: httpx.Client) -> None:
    _assert_problem(http.post("/api/v1/projects", json={"name": "a\u0000b"}), 422)
