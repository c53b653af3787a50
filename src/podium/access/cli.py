"""``podium users``, ``podium keys``, ``podium projects`` and ``podium audit``.

Thin commands over the REST API through ``podium.client.Client``: in embedded mode (no
``PODIUM_URL``) they act as the local administrator on the local store, which is how the first
admin is created; against a server they need ``PODIUM_API_KEY`` with the right role.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import typer
from rich.markup import escape

from podium.access.models import DEFAULT_PROJECT, Role
from podium.cli.output import fail, format_when, print_json, print_table, stdout
from podium.client import Client

JsonOption = typer.Option(False, "--json", help="Print JSON instead of tables.")
ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="The project.")

users_app = typer.Typer(help="Users who log in to the UI and own API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects and their members.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _cell(value: Any) -> str:
    return "-" if value is None else escape(str(value))


# -- users ------------------------------------------------------------------------------------


@users_app.command("create")
def create_user(
    username: str = typer.Argument(..., help="Login name."),
    admin: bool = typer.Option(False, "--admin", help="Make a server admin."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="PODIUM_NEW_PASSWORD",
        help="The password (prompted; or PODIUM_NEW_PASSWORD).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a user. The first admin is created this way, in embedded mode."""
    with Client() as client:
        user = client.post(
            "/users", {"username": username, "password": password, "is_admin": admin}
        )
    if as_json:
        print_json(user)
    else:
        stdout.print(
            f"created user [bold]{escape(user['username'])}[/] (admin: {user['is_admin']})"
        )


@users_app.command("list")
def list_users(as_json: bool = JsonOption) -> None:
    """Every user."""
    with Client() as client:
        users = client.get("/users")
    if as_json:
        print_json(users)
        return
    print_table(
        "Users",
        ["username", "admin", "disabled", "created"],
        [
            [_cell(u["username"]), u["is_admin"], u["disabled"], format_when(u["created_at"])]
            for u in users
        ],
    )


@users_app.command("disable")
def disable_user(username: str, as_json: bool = JsonOption) -> None:
    """Disable a user: their sessions end and their keys stop working."""
    with Client() as client:
        user = client.request(
            "PATCH", f"/users/{quote(username, safe='')}", json={"disabled": True}
        )
    print_json(user) if as_json else stdout.print(f"disabled {escape(username)}")


# -- keys -------------------------------------------------------------------------------------


@keys_app.command("create")
def create_key(
    project: str = ProjectOption,
    role: Role = typer.Option(Role.VIEWER, "--role", help="The key's role in the project."),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
    expires_in_days: float | None = typer.Option(None, "--expires-in-days", help="Lifetime."),
    username: str | None = typer.Option(None, "--user", help="Owner (admins only; default: you)."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API key. The secret is printed once: store it now."""
    body: dict[str, Any] = {"project": project, "role": role.value, "name": name}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    if username is not None:
        body["username"] = username
    with Client() as client:
        key = client.post("/keys", body)
    if as_json:
        print_json(key)
        return
    stdout.print(
        f"API key [bold]{key['prefix']}[/] for {escape(key['username'])}: "
        f"{key['role']} in {escape(key['project'])}"
    )
    stdout.print("Store it now, it will not be shown again:")
    print(key["key"])


@keys_app.command("list")
def list_keys(as_json: bool = JsonOption) -> None:
    """Your keys (every key for admins)."""
    with Client() as client:
        keys = client.get("/keys")
    if as_json:
        print_json(keys)
        return
    print_table(
        "API keys",
        ["id", "prefix", "name", "user", "project", "role", "expires", "revoked", "last used"],
        [
            [
                k["id"],
                k["prefix"],
                _cell(k["name"]),
                _cell(k["username"]),
                _cell(k["project"]),
                k["role"],
                format_when(k["expires_at"]),
                format_when(k["revoked_at"]),
                format_when(k["last_used_at"]),
            ]
            for k in keys
        ],
    )


@keys_app.command("revoke")
def revoke_key(
    key_id: int = typer.Argument(..., help="The key's id (see `podium keys list`)."),
) -> None:
    """Revoke a key; it stops working at once."""
    with Client() as client:
        key = client.request("DELETE", f"/keys/{key_id}")
    stdout.print(f"revoked key {key['prefix']} ({escape(key['name'])})")


# -- projects ---------------------------------------------------------------------------------


@projects_app.command("list")
def list_projects(as_json: bool = JsonOption) -> None:
    """Projects you belong to."""
    with Client() as client:
        page = client.get("/projects")
    if as_json:
        print_json(page["items"])
        return
    print_table(
        "Projects",
        ["name", "description", "created"],
        [
            [_cell(p["name"]), _cell(p["description"]), format_when(p["created_at"])]
            for p in page["items"]
        ],
    )


@projects_app.command("create")
def create_project(name: str, description: str = typer.Option("", "--description")) -> None:
    """Create a project (you become its owner)."""
    with Client() as client:
        client.post("/projects", {"name": name, "description": description})
    stdout.print(f"created project [bold]{escape(name)}[/]")


@projects_app.command("add-member")
def add_member(
    project: str,
    username: str,
    role: Role = typer.Option(Role.VIEWER, "--role", help="Role in the project."),
) -> None:
    """Give a user a role in a project."""
    with Client() as client:
        client.request(
            "PUT",
            f"/projects/{quote(project, safe='')}/members/{quote(username, safe='')}",
            json={"role": role.value},
        )
    stdout.print(f"{escape(username)} is {role.value} in {escape(project)}")


@projects_app.command("members")
def members(project: str, as_json: bool = JsonOption) -> None:
    """A project's members."""
    with Client() as client:
        rows = client.get(f"/projects/{quote(project, safe='')}/members")
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Members of {escape(project)}",
        ["user", "role"],
        [[_cell(m["username"]), m["role"]] for m in rows],
    )


# -- audit ------------------------------------------------------------------------------------


@audit_app.command("list")
def list_audit(
    project: str = ProjectOption,
    actor: str | None = typer.Option(None, "--actor"),
    action: str | None = typer.Option(None, "--action", help="Action prefix, e.g. registry."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """Recent audit events of a project."""
    with Client() as client:
        page = client.get("/audit", project=project, actor=actor, action=action, limit=limit)
    if as_json:
        print_json(page["items"])
        return
    print_table(
        f"Audit log of {escape(project)}",
        ["#", "when", "actor", "action", "object", "from"],
        [
            [
                e["id"],
                format_when(e["at"]),
                _cell(e["actor"]),
                e["action"],
                _cell(e["object_id"]),
                _cell(e["remote_addr"]),
            ]
            for e in page["items"]
        ],
    )


@audit_app.command("verify")
def verify_audit(
    expect_head: str | None = typer.Option(
        None, "--expect-head", help="A head hash recorded earlier (detects a truncated tail)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check the hash chain; exits 1 and names the first bad row if it was tampered with."""
    with Client() as client:
        result = client.get("/audit/verify", expect_head=expect_head)
    if as_json:
        print_json(result)
    elif result["ok"]:
        stdout.print(f"[green]audit log intact[/]: {result['checked']} rows verified")
    if not result["ok"]:
        if not as_json:
            fail(f"audit log tampered: {result['reason']}", code=1)
        raise typer.Exit(1)


@audit_app.command("head")
def audit_head(as_json: bool = JsonOption) -> None:
    """Print the chain's length and newest hash; keep it to detect a truncated log later."""
    with Client() as client:
        result = client.get("/audit/head")
    if as_json:
        print_json(result)
    else:
        stdout.print(f"{result['count']} rows, head {result['head']}")
