def test_health(http):
    body = http.get("/api/v1/health").json()
    assert body["status"] == "ok"
