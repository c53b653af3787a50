"""The docs tell the truth about settings and the README's two commands."""

from __future__ import annotations

from pathlib import Path

from podium.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented_with_its_description() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        variable = f"PODIUM_{name.upper()}"
        assert f"`{variable}`" in page, f"{variable} is missing from docs/configuration.md"
        assert field.description, f"Settings.{name} has no description"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[:3000]
    assert "make run" in head and "make test" in head
    assert head.index("make run") < head.index("make test")


def test_access_page_shows_the_policy_table() -> None:
    from podium.access.models import Role
    from podium.access.policy import POLICY

    page = (ROOT / "docs" / "access.md").read_text()
    for part, actions in POLICY.items():
        for action, least in actions.items():
            cells = ["✓" if r.at_least(least) else "" for r in Role]
            row = f"| `{part}:{action}` | " + " | ".join(cells) + " |"
            assert row in page, f"docs/access.md is missing or has a stale row for {part}:{action}"
