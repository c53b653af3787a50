"""Who may do what: the minimum role each action needs, per part.

This table is the single source of truth; ``docs/access.md`` shows it and a test keeps the two
in step. Later parts add their rows here. Three project-less levels sit beside the table:
``public`` (no credentials), ``authenticated`` (any valid caller) and ``server:admin``.
"""

from __future__ import annotations

from podium.access.models import Role

# part -> action -> least role that may do it
POLICY: dict[str, dict[str, Role]] = {
    "projects": {
        "read": Role.VIEWER,  # see the project and its members
        "manage": Role.ADMIN,  # add/remove members, revoke others' keys
        "delete": Role.OWNER,  # delete the project, make owners
    },
    "tracking": {
        "read": Role.VIEWER,  # experiments, runs, metrics, artifacts
        "write": Role.EDITOR,  # create runs, log params/metrics/artifacts, delete runs
    },
    "registry": {
        "read": Role.VIEWER,  # models, versions, aliases, history
        "write": Role.EDITOR,  # register models and versions
        "promote": Role.ADMIN,  # move, delete and roll back aliases
    },
    "prompts": {
        "read": Role.VIEWER,  # prompts, versions, labels, history, diffs, rendering
        "write": Role.EDITOR,  # create prompts, push versions
        "label": Role.ADMIN,  # move and roll back labels (production …), delete prompts
    },
    "data": {
        "read": Role.VIEWER,  # datasets, versions, rows, diffs, lineage, exports
        "write": Role.EDITOR,  # import versions, run the quality pipeline, delete datasets
    },
    "tracing": {
        "read": Role.VIEWER,  # traces, spans, stats
        "write": Role.EDITOR,  # ingest spans (OTLP)
        "alert": Role.EDITOR,  # create, delete and evaluate alert rules (monitoring)
        "delete": Role.ADMIN,  # prune a project's old traces
    },
    "evals": {
        "read": Role.VIEWER,  # eval experiments, items, comparisons, cached judge answers
        "write": Role.EDITOR,  # report experiments and item results, cache judge answers
        "label": Role.ADMIN,  # move an experiment label (production: the CI gate's baseline)
    },
    "gateway": {
        "invoke": Role.VIEWER,  # call /v1 (chat, completions, embeddings, models); read routes
        "manage": Role.EDITOR,  # put/delete routes, move canaries, set limits and budgets
    },
    "audit": {
        "read": Role.ADMIN,  # browse the project's audit log
    },
    "keys": {
        "own": Role.VIEWER,  # create, list and revoke one's own keys (role capped at one's own)
    },
}

PUBLIC = "public"  # anyone, no credentials: health, metrics, the login page
AUTHENTICATED = "authenticated"  # any caller with valid credentials, no project involved
SERVER_ADMIN = "server:admin"  # a server admin (users, whole-log audit verification)
PROJECTLESS = (PUBLIC, AUTHENTICATED, SERVER_ADMIN)


def least_role(part: str, action: str) -> Role:
    """The least role that may perform ``part:action``; KeyError for an undeclared action."""
    return POLICY[part][action]


def allows(role: Role | None, part: str, action: str) -> bool:
    """Whether ``role`` may perform ``part:action``."""
    return role is not None and role.at_least(least_role(part, action))
