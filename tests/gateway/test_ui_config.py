"""Configuring the gateway from its pages: the New route form, Edit, Delete, the canary buttons,
the errors they show, who may use them, and one pass through the form in headless Chromium."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from podium.access.models import Role
from podium.errors import Conflict
from podium.gateway.models import RouteSpec
from podium.gateway.ui import EXAMPLE_SPEC, spec_from_yaml, spec_yaml
from podium.server.app import Services
from tests.conftest import LiveServer
from tests.server.test_ui_browser import Page, browser  # noqa: F401  (the browser fixture)

PAGE = {"Accept": "text/html"}
PASSWORD = "correct horse battery"
UPSTREAM = "http://127.0.0.1:9/v1"
CANARY_SPEC = f"""\
deployments:
  - {{name: stable, model: m1, base_url: "{UPSTREAM}"}}
  - {{name: next, model: m2, base_url: "{UPSTREAM}", role: canary}}
canary:
  steps: [10, 50, 100]
"""


def textarea(page: str, name: str = "spec") -> str:
    """The text of the page's textarea named ``name``, unescaped."""
    found = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert found is not None, f"no textarea {name!r}"
    return html.unescape(found.group(1))


def alert(page: str) -> str:
    """The text of the page's error notice."""
    found = re.search(r'<p class="notice error" role="alert"[^>]*>(.*?)</p>', page, re.S)
    assert found is not None, "no error notice"
    return html.unescape(found.group(1))


def create(http: httpx.Client, name: str, spec: str, project: str = "team") -> httpx.Response:
    return http.post(
        "/gateway", params={"project": project}, data={"name": name, "spec": spec}, headers=PAGE
    )


def audit_changes(services: Services, project: str) -> list[dict[str, Any]]:
    """The gateway audit rows' details of ``project``, oldest first."""
    rows = services.audit.search(project=project, action="gateway.manage")
    return [row.details | {"actor": row.actor, "object_id": row.object_id} for row in rows][::-1]


# -- the YAML of a spec -------------------------------------------------------------------------


def test_the_edit_yaml_round_trips_and_the_example_is_valid() -> None:
    spec = spec_from_yaml(CANARY_SPEC + "retries: 4\nfallbacks: [backup]\n")
    text = spec_yaml(spec)
    assert "provider" not in text  # defaults are left out
    assert yaml.safe_load(text)["retries"] == 4
    assert spec_from_yaml(text) == spec
    example = spec_from_yaml(EXAMPLE_SPEC)
    assert example.deployments[0].model == "smollm2-135m-instruct"
    assert example.deployments[0].provider == "local"


# -- create, edit, errors -----------------------------------------------------------------------


def test_put_route_is_a_compare_and_swap_when_asked(services: Services) -> None:
    gateway = services.gateway.service
    one = RouteSpec.model_validate(spec_from_yaml(EXAMPLE_SPEC).model_dump())
    two = one.model_copy(update={"retries": one.retries + 1})
    first = gateway.put_route("default", "cas", one, actor="a", expected_revision=0)
    assert first.revision == 1
    with pytest.raises(Conflict, match="already exists"):
        gateway.put_route("default", "cas", two, actor="b", expected_revision=0)
    assert gateway.put_route("default", "cas", two, actor="b", expected_revision=1).revision == 2
    with pytest.raises(Conflict, match="at revision 2 \\(by b\\), not 1"):
        gateway.put_route("default", "cas", one, actor="c", expected_revision=1)
    with pytest.raises(Conflict, match="deleted meanwhile"):
        gateway.put_route("default", "gone", one, actor="c", expected_revision=4)
    assert gateway.get_route("default", "cas").spec == two


def test_create_a_route_with_the_new_route_form(http: httpx.Client, services: Services) -> None:
    listing = http.get("/gateway", params={"project": "team"}, headers=PAGE)
    assert listing.status_code == 200
    assert 'data-route-form="new"' in listing.text
    assert textarea(listing.text) == EXAMPLE_SPEC

    made = create(http, "chat", textarea(listing.text))
    assert made.status_code == 303
    assert made.headers["location"] == "/gateway/routes/chat?project=team&done=created#notice"
    page = http.get(made.headers["location"], headers=PAGE)
    assert page.status_code == 200
    assert "Route created." in page.text
    assert '<tr data-deployment="local">' in page.text and "smollm2-135m-instruct" in page.text
    route = services.gateway.service.get_route("team", "chat")
    assert route.revision == 1 and route.updated_by == "local"
    assert 'data-route="chat"' in http.get("/gateway?project=team", headers=PAGE).text
    (row,) = audit_changes(services, "team")
    assert row["change"] == "created" and row["via"] == "ui" and row["object_id"] == "name=chat"
    assert row["route"] == "POST /gateway"

    again = create(http, "chat", EXAMPLE_SPEC)
    assert again.status_code == 409
    assert "already exists" in alert(again.text)
    assert services.gateway.service.get_route("team", "chat").revision == 1


def test_edit_replaces_the_route_as_a_new_revision(http: httpx.Client, services: Services) -> None:
    assert create(http, "chat", CANARY_SPEC).status_code == 303
    page = http.get("/gateway/routes/chat", params={"project": "team"}, headers=PAGE)
    text = textarea(page.text)
    assert spec_from_yaml(text) == services.gateway.service.get_route("team", "chat").spec

    edited = text + "retries: 5\ncache_ttl_s: 60\n"
    saved = http.post(
        "/gateway/routes/chat",
        params={"project": "team"},
        data={"spec": edited, "revision": "1"},
        headers=PAGE,
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("done=updated#notice")
    route = services.gateway.service.get_route("team", "chat")
    assert route.revision == 2 and route.spec.retries == 5 and route.spec.cache_ttl_s == 60
    shown = http.get(saved.headers["location"], headers=PAGE).text
    assert "Saved as a new revision. Revision 2." in shown
    assert "updated (from revision 1)" in shown
    assert "retries: 5" in textarea(shown)

    # Saving the same text again changes nothing.
    same = http.post(
        "/gateway/routes/chat",
        params={"project": "team"},
        data={"spec": textarea(shown), "revision": "2"},
        headers=PAGE,
    )
    assert same.headers["location"].endswith("done=unchanged#notice")
    assert services.gateway.service.get_route("team", "chat").revision == 2
    changes = [row["change"] for row in audit_changes(services, "team")]
    assert changes == ["created", "updated", "unchanged"]
    history = services.gateway.service.history("team", "chat")
    assert [e.action for e in history] == ["updated", "created"]

    # A form opened before someone else's change is not applied over it.
    stale = http.post(
        "/gateway/routes/chat",
        params={"project": "team"},
        data={"spec": text + "retries: 1\n", "revision": "1"},
        headers=PAGE,
    )
    assert stale.status_code == 409
    assert "changed since you opened it (now revision 2" in alert(stale.text)
    assert textarea(stale.text) == text + "retries: 1\n"
    assert services.gateway.service.get_route("team", "chat").spec.retries == 5


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("deployments:\n  - name: a\n   model: x\n", "spec", "not valid YAML at line 3"),
        ("deployments: [", "spec", "not valid YAML"),
        ("", "deployments", "the spec is empty"),
        ("- a\n- b\n", "spec", "must be a YAML mapping"),
        ("deployments:\n  - {name: a, model: x}\n", "deployments.0", "needs base_url"),
        (CANARY_SPEC + "retries: 99\n", "retries", "retries: Input should be less than"),
        (CANARY_SPEC + "colour: red\n", "colour", "colour: Extra inputs are not permitted"),
        ("name: chat\n" + CANARY_SPEC, "name", "name: leave it out of the spec"),
        ("deployments: 2024-02-30\n", "spec", "not valid YAML: day is out of range"),
        ("[" * 5000, "spec", "nested too deeply"),
    ],
)
def test_a_bad_spec_is_shown_with_the_text_kept(
    http: httpx.Client, services: Services, spec: str, field: str, message: str
) -> None:
    refused = create(http, "chat", spec)
    assert refused.status_code == 422
    assert "text/html" in refused.headers["content-type"]
    assert message in alert(refused.text)
    assert f'data-field="{field}"' in refused.text
    assert textarea(refused.text) == spec
    assert 'value="chat"' in refused.text
    assert services.gateway.service.list_routes("team") == []


def test_bad_names_and_bad_edits_are_422_pages(http: httpx.Client, services: Services) -> None:
    nameless = create(http, " ", EXAMPLE_SPEC)
    assert nameless.status_code == 422 and "give the route a name" in alert(nameless.text)
    bad_name = create(http, "no spaces", EXAMPLE_SPEC)
    assert bad_name.status_code == 422
    assert "route name 'no spaces' is not valid" in alert(bad_name.text)
    assert create(http, "chat", EXAMPLE_SPEC).status_code == 303
    broken = "deployments:\n  - {name: local, provider: local, model: m, weight: -1}\n"
    refused = http.post(
        "/gateway/routes/chat", params={"project": "team"}, data={"spec": broken}, headers=PAGE
    )
    assert refused.status_code == 422
    assert "deployments.0.weight" in alert(refused.text)
    assert textarea(refused.text) == broken
    assert services.gateway.service.get_route("team", "chat").revision == 1
    missing = http.post(
        "/gateway/routes/nope", params={"project": "team"}, data={"spec": broken}, headers=PAGE
    )
    assert missing.status_code == 404 and "podium gateway routes list" in missing.text


# -- canary and delete --------------------------------------------------------------------------


def test_promote_and_roll_back_the_canary(http: httpx.Client, services: Services) -> None:
    assert create(http, "chat", CANARY_SPEC).status_code == 303
    page = http.get("/gateway/routes/chat", params={"project": "team"}, headers=PAGE).text
    assert 'data-canary-action="promote"' in page and "Promote to 50%" in page
    assert 'data-canary-action="rollback"' in page

    promoted = http.post(
        "/gateway/routes/chat/canary/promote",
        params={"project": "team"},
        data={"reason": "error rate flat", "revision": "1"},
        headers=PAGE,
    )
    assert promoted.status_code == 303 and promoted.headers["location"].endswith(
        "done=promoted#notice"
    )
    shown = http.get(promoted.headers["location"], headers=PAGE).text
    assert "Canary promoted." in shown and 'data-canary-state="rolling"' in shown
    assert "50% of traffic" in shown and "error rate flat" in shown
    assert "Promote to 100%" in shown

    rolled = http.post(
        "/gateway/routes/chat/canary/rollback",
        params={"project": "team"},
        data={"reason": "p95 up", "revision": "2"},
        headers=PAGE,
    )
    assert rolled.status_code == 303
    shown = http.get(rolled.headers["location"], headers=PAGE).text
    assert 'data-canary-state="rolled_back"' in shown and "p95 up" in shown
    assert 'data-canary-action="promote"' not in shown  # nothing rolling any more

    again = http.post(
        "/gateway/routes/chat/canary/promote", params={"project": "team"}, headers=PAGE
    )
    assert again.status_code == 409 and "no canary rolling out" in alert(again.text)
    history = [
        (e.action, e.details.get("reason")) for e in services.gateway.service.history("team")
    ]
    assert history[:2] == [("canary_rolled_back", "p95 up"), ("canary_promoted", "error rate flat")]
    rows = audit_changes(services, "team")
    assert [(r["change"], r.get("reason")) for r in rows[1:]] == [
        ("canary_promoted", "error rate flat"),
        ("canary_rolled_back", "p95 up"),
    ]
    assert rows[1]["percent"] == 50.0


def test_delete_needs_the_name_typed(http: httpx.Client, services: Services) -> None:
    assert create(http, "chat", EXAMPLE_SPEC).status_code == 303
    url = "/gateway/routes/chat/delete"
    wrong = http.post(url, params={"project": "team"}, data={"confirm": "cha"}, headers=PAGE)
    assert wrong.status_code == 422 and "type the route's name, chat" in alert(wrong.text)
    assert services.gateway.service.get_route("team", "chat").revision == 1

    done = http.post(url, params={"project": "team"}, data={"confirm": "chat"}, headers=PAGE)
    assert done.status_code == 303
    assert done.headers["location"] == "/gateway?project=team&deleted=chat#notice"
    listing = http.get(done.headers["location"], headers=PAGE).text
    assert "Route &#39;chat&#39; deleted" in listing and 'data-route="chat"' not in listing
    assert services.gateway.service.list_routes("team") == []
    assert services.gateway.service.history("team", "chat")[0].action == "deleted"
    assert [r["change"] for r in audit_changes(services, "team")] == ["created", "deleted"]


# -- who may -------------------------------------------------------------------------------------


@pytest.fixture
def members(services: Services) -> None:
    """A viewer and an editor of project ``team``, which has route ``chat``."""
    services.projects.create("team")
    for role in (Role.VIEWER, Role.EDITOR):
        services.access.create_user(f"{role.value}-user", PASSWORD)
        services.access.set_member("team", f"{role.value}-user", role)
    spec = RouteSpec.model_validate(yaml.safe_load(CANARY_SPEC))
    services.gateway.service.put_route("team", "chat", spec, actor="root")


def log_in(client: httpx.Client, username: str) -> str:
    """Log ``username`` in; the CSRF token the pages carry."""
    reply = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
    assert reply.status_code == 303
    page = client.get("/gateway", params={"project": "team"}, headers=PAGE).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_viewer_sees_no_forms_and_cannot_post(
    remote_http: httpx.Client, services: Services, members: None
) -> None:
    csrf = log_in(remote_http, "viewer-user")
    listing = remote_http.get("/gateway", params={"project": "team"}, headers=PAGE)
    assert listing.status_code == 200 and 'data-route="chat"' in listing.text
    assert "data-route-form" not in listing.text
    page = remote_http.get("/gateway/routes/chat", params={"project": "team"}, headers=PAGE)
    assert page.status_code == 200 and 'data-deployment="next"' in page.text
    assert "data-route-form" not in page.text and "data-canary-action" not in page.text
    for path, data in [
        ("/gateway", {"name": "other", "spec": EXAMPLE_SPEC}),
        ("/gateway/routes/chat", {"spec": EXAMPLE_SPEC}),
        ("/gateway/routes/chat/delete", {"confirm": "chat"}),
        ("/gateway/routes/chat/canary/promote", {}),
        ("/gateway/routes/chat/canary/rollback", {}),
    ]:
        refused = remote_http.post(
            path, params={"project": "team"}, data={**data, "csrf_token": csrf}, headers=PAGE
        )
        assert refused.status_code == 403, path
        assert "text/html" in refused.headers["content-type"]
        assert "gateway:manage in project &#39;team&#39; needs the editor role" in refused.text
    route = services.gateway.service.get_route("team", "chat")
    assert route.revision == 1 and route.spec.canary is not None
    assert services.gateway.service.list_routes("team") == [route]
    assert audit_changes(services, "team") == []


def test_an_editor_posts_with_the_forms_csrf_token(
    remote_http: httpx.Client, services: Services, members: None
) -> None:
    csrf = log_in(remote_http, "editor-user")
    page = remote_http.get("/gateway/routes/chat", params={"project": "team"}, headers=PAGE).text
    assert 'data-route-form="edit"' in page and f'name="csrf_token" value="{csrf}"' in page
    data = {"reason": "looks good", "revision": "1"}
    forged = remote_http.post(
        "/gateway/routes/chat/canary/promote", params={"project": "team"}, data=data, headers=PAGE
    )
    assert forged.status_code == 403 and "CSRF" in forged.text
    done = remote_http.post(
        "/gateway/routes/chat/canary/promote",
        params={"project": "team"},
        data={**data, "csrf_token": csrf},
        headers=PAGE,
    )
    assert done.status_code == 303
    route = services.gateway.service.get_route("team", "chat")
    assert route.spec.canary is not None and route.spec.canary.percent == 50.0
    assert route.updated_by == "editor-user"
    (row,) = audit_changes(services, "team")
    assert row["actor"] == "editor-user" and row["change"] == "canary_promoted"


# -- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A ``podium server`` on SQLite with nothing in it (single-user local mode)."""
    home = tmp_path_factory.mktemp("gateway-ui-home")
    env = {"PODIUM_HOME": str(home), "PODIUM_DATABASE_URL": f"sqlite:///{home / 'podium.db'}"}
    server = LiveServer(env, home)
    server.start()
    yield server
    server.stop()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.xdist_group("browser")
def test_new_route_form_in_chromium(browser: Any, empty_server: LiveServer) -> None:  # noqa: F811
    page = Page(browser, empty_server.url)
    try:
        tab = page.tab
        tab.goto("/gateway?project=shop")
        form = tab.locator('form[data-route-form="new"]')
        assert form.is_visible()  # open at once: the project has no routes yet
        form.locator('input[name="name"]').fill("support-chat")
        assert "smollm2-135m-instruct" in form.locator("textarea").input_value()
        with tab.expect_navigation():
            form.get_by_role("button", name="Create route").click()
        assert urlsplit(tab.url).path == "/gateway/routes/support-chat"
        assert tab.title() == "Route support-chat · Podium"
        row = tab.locator('table.gateway-deployments tr[data-deployment="local"]')
        assert row.locator("td").nth(2).inner_text() == "local"
        assert "smollm2-135m-instruct" in row.inner_text()
        assert "Route created." in tab.locator("p.notice.info").inner_text()
        assert tab.locator("table.gateway-history").inner_text().count("created") == 1
    finally:
        errors = list(page.errors)
        page.close()
    assert errors == []
