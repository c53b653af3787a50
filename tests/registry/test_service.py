"""RegistryService on both databases: models, versions, artifacts, aliases, history, rollback."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pytest

from podium.errors import Conflict, InvalidInput, NotFound
from podium.registry.service import RegistryService
from podium.server.app import Services
from tests.registry.conftest import LoggedRun


@pytest.fixture
def registry(services: Services) -> RegistryService:
    return services.registry


def _now() -> datetime:
    return datetime.now(tz=UTC)


# -- registered models --------------------------------------------------------------------------


def test_create_model_ensures_the_project_and_starts_with_no_versions(
    services: Services, registry: RegistryService
) -> None:
    before = _now().replace(microsecond=0)
    model = registry.create_model("team-a", "chat-bot", "answers questions")
    assert (model.project, model.name, model.description) == (
        "team-a",
        "chat-bot",
        "answers questions",
    )
    assert model.latest_version == 0
    assert model.aliases == {}
    assert model.created_at == model.updated_at
    assert before <= model.created_at <= _now()
    assert services.projects.by_name("team-a").name == "team-a"
    assert registry.get_model("team-a", "chat-bot") == model


def test_duplicate_model_name_is_a_conflict_but_other_projects_may_reuse_it(
    registry: RegistryService,
) -> None:
    registry.create_model("default", "m")
    with pytest.raises(Conflict, match="'m' already exists in project 'default'") as caught:
        registry.create_model("default", "m")
    assert caught.value.field == "name"
    assert registry.create_model("other", "m").project == "other"


def test_model_name_is_validated(registry: RegistryService) -> None:
    for bad in ["", "-x", "has space", "a/b", "x" * 201]:
        with pytest.raises(InvalidInput) as caught:
            registry.create_model("default", bad)
        assert caught.value.field == "name"
    assert registry.list_models("default") == []


def test_unknown_model_and_unknown_project_are_not_found_with_their_names(
    registry: RegistryService,
) -> None:
    registry.create_model("default", "m")
    with pytest.raises(NotFound, match="model 'nope' does not exist in project 'default'"):
        registry.get_model("default", "nope")
    with pytest.raises(NotFound, match="project 'ghost' does not exist"):
        registry.get_model("ghost", "m")
    with pytest.raises(NotFound, match="project 'ghost' does not exist"):
        registry.list_models("ghost")


def test_list_models_by_name_with_paging(registry: RegistryService) -> None:
    # The default project exists implicitly: listing it before any write is empty, not 404.
    assert registry.list_models("default") == []
    for name in ["c", "a", "b", "d"]:
        registry.create_model("default", name)
    registry.create_model("elsewhere", "zzz")
    assert [m.name for m in registry.list_models("default")] == ["a", "b", "c", "d"]
    assert [m.name for m in registry.list_models("default", offset=1, limit=2)] == ["b", "c"]
    assert [m.name for m in registry.list_models("default", offset=4)] == []


def test_update_description(registry: RegistryService) -> None:
    created = registry.create_model("default", "m", "old")
    updated = registry.update_model("default", "m", "new")
    assert updated.description == "new"
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at
    assert registry.get_model("default", "m").description == "new"
    with pytest.raises(NotFound):
        registry.update_model("default", "nope", "x")


def test_delete_model_removes_versions_aliases_and_history(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    registry.create_version("default", "m")
    registry.set_alias("default", "m", "production", 1, actor="alice")
    registry.delete_model("default", "m")
    with pytest.raises(NotFound):
        registry.get_model("default", "m")
    with pytest.raises(NotFound):
        registry.delete_model("default", "m")
    # The name is free again and numbering restarts.
    registry.create_model("default", "m")
    assert registry.create_version("default", "m").version == 1
    assert registry.alias_history("default", "m") == []


# -- versions -----------------------------------------------------------------------------------


def test_versions_are_numbered_densely_and_record_who_and_what(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    first = registry.create_version(
        "default",
        "m",
        framework="transformers",
        metadata={"base": "qwen", "params": 500_000_000, "tags": ["a", "b"]},
        description="first cut",
        model_card="# m\n\nTrained on things.",
        actor="alice",
    )
    assert first.version == 1
    assert (first.model, first.framework, first.created_by) == ("m", "transformers", "alice")
    assert first.metadata == {"base": "qwen", "params": 500_000_000, "tags": ["a", "b"]}
    assert (first.description, first.model_card) == ("first cut", "# m\n\nTrained on things.")
    assert (first.source_run_id, first.artifact_path, first.artifact_sha256) == (None, None, None)
    assert first.aliases == []
    second = registry.create_version("default", "m", actor="bob")
    assert second.version == 2
    assert registry.get_model("default", "m").latest_version == 2
    assert registry.get_version("default", "m", 1) == first


def test_list_versions_newest_first_with_paging(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    for _ in range(5):
        registry.create_version("default", "m")
    assert [v.version for v in registry.list_versions("default", "m")] == [5, 4, 3, 2, 1]
    assert [v.version for v in registry.list_versions("default", "m", offset=1, limit=2)] == [4, 3]


def test_unknown_version_and_model_are_not_found(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    registry.create_version("default", "m")
    with pytest.raises(NotFound, match=r"no version 7 \(its versions: 1..1\)") as caught:
        registry.get_version("default", "m", 7)
    assert caught.value.field == "version"
    with pytest.raises(NotFound, match="model 'nope'"):
        registry.create_version("default", "nope")
    with pytest.raises(NotFound, match="model 'nope'"):
        registry.list_versions("default", "nope")


def test_version_from_a_stored_blob_serves_its_bytes(
    services: Services, registry: RegistryService
) -> None:
    data = b"gguf" * 5000
    blob = services.blobs.put(io.BytesIO(data))
    registry.create_model("default", "m")
    version = registry.create_version("default", "m", artifact_sha256=blob.sha256)
    assert version.artifact_sha256 == hashlib.sha256(data).hexdigest()
    assert version.artifact_path is None
    assert b"".join(registry.open_version_content("default", "m", 1)) == data


def test_unknown_or_malformed_blob_is_refused_with_the_field(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    with pytest.raises(NotFound, match="no blob with sha256") as caught:
        registry.create_version("default", "m", artifact_sha256="0" * 64)
    assert caught.value.field == "artifact_sha256"
    with pytest.raises(InvalidInput) as bad:
        registry.create_version("default", "m", artifact_sha256="XYZ")
    assert bad.value.field == "artifact_sha256"
    # Refused requests used no version number.
    assert registry.create_version("default", "m").version == 1


def test_contradictory_artifact_fields_are_invalid(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    with pytest.raises(InvalidInput, match="also give source_run_id") as caught:
        registry.create_version("default", "m", artifact_path="model.bin")
    assert caught.value.field == "source_run_id"
    with pytest.raises(InvalidInput, match="not both") as both:
        registry.create_version(
            "default", "m", source_run_id="r", artifact_path="a", artifact_sha256="0" * 64
        )
    assert both.value.field == "artifact_sha256"


def test_metadata_must_be_a_json_object(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    with pytest.raises(InvalidInput) as nan:
        registry.create_version("default", "m", metadata={"loss": float("nan")})
    assert nan.value.field == "metadata"
    with pytest.raises(InvalidInput) as not_json:
        registry.create_version("default", "m", metadata={"when": object()})
    assert not_json.value.field == "metadata"


def test_version_without_artifact_has_no_content(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    registry.create_version("default", "m")
    with pytest.raises(NotFound, match="version 1 of model 'm' has no artifact") as caught:
        registry.open_version_content("default", "m", 1)
    assert caught.value.field == "version"


def test_version_from_a_run_artifact_copies_its_sha256_and_serves_its_bytes(
    registry: RegistryService, logged_run: LoggedRun
) -> None:
    registry.create_model("default", "m")
    version = registry.create_version(
        "default", "m", source_run_id=logged_run.id, artifact_path=logged_run.path
    )
    assert (version.source_run_id, version.artifact_path) == (logged_run.id, logged_run.path)
    assert (
        version.artifact_sha256
        == logged_run.sha256
        == hashlib.sha256(logged_run.content).hexdigest()
    )
    assert b"".join(registry.open_version_content("default", "m", 1)) == logged_run.content


def test_source_run_alone_records_lineage(registry: RegistryService, logged_run: LoggedRun) -> None:
    registry.create_model("default", "m")
    version = registry.create_version("default", "m", source_run_id=logged_run.id)
    assert (version.source_run_id, version.artifact_path, version.artifact_sha256) == (
        logged_run.id,
        None,
        None,
    )


def test_unknown_run_or_artifact_path_is_not_found_with_the_field(
    registry: RegistryService, logged_run: LoggedRun
) -> None:
    registry.create_model("default", "m")
    with pytest.raises(NotFound, match="run 'f00' does not exist") as run:
        registry.create_version("default", "m", source_run_id="f00", artifact_path="x")
    assert run.value.field == "source_run_id"
    with pytest.raises(NotFound, match="run 'f00' does not exist"):
        registry.create_version("default", "m", source_run_id="f00")
    with pytest.raises(
        NotFound, match=r"its artifacts: 'README\.md', 'model/weights\.bin'"
    ) as path:
        registry.create_version(
            "default", "m", source_run_id=logged_run.id, artifact_path="model/nope.bin"
        )
    assert path.value.field == "artifact_path"
    assert registry.get_model("default", "m").latest_version == 0


# -- aliases ------------------------------------------------------------------------------------


@pytest.fixture
def three_versions(registry: RegistryService) -> RegistryService:
    registry.create_model("default", "m")
    for _ in range(3):
        registry.create_version("default", "m")
    return registry


def test_set_alias_points_it_and_records_who_when_from_to_and_why(
    three_versions: RegistryService,
) -> None:
    registry = three_versions
    before = _now().replace(microsecond=0)
    alias = registry.set_alias("default", "m", "production", 2, actor="alice", reason="eval ok")
    assert (alias.model, alias.alias, alias.version, alias.updated_by) == (
        "m",
        "production",
        2,
        "alice",
    )
    assert registry.get_model("default", "m").aliases == {"production": 2}
    assert registry.get_version("default", "m", 2).aliases == ["production"]
    assert registry.get_version_by_alias("default", "m", "production").version == 2
    assert registry.get_alias("default", "m", "production") == alias
    [event] = registry.alias_history("default", "m")
    assert (event.model, event.alias, event.from_version, event.to_version) == (
        "m",
        "production",
        None,
        2,
    )
    assert (event.actor, event.reason) == ("alice", "eval ok")
    assert before <= event.at <= _now()

    moved = registry.set_alias("default", "m", "production", 3, actor="bob", reason="better")
    assert (moved.version, moved.updated_by) == (3, "bob")
    newest = registry.alias_history("default", "m")[0]
    assert (newest.from_version, newest.to_version, newest.actor) == (2, 3, "bob")


def test_setting_an_alias_to_where_it_points_records_nothing(
    three_versions: RegistryService,
) -> None:
    registry = three_versions
    first = registry.set_alias("default", "m", "production", 1, actor="alice")
    again = registry.set_alias("default", "m", "production", 1, actor="bob", reason="again")
    assert again == first
    assert len(registry.alias_history("default", "m")) == 1


def test_alias_to_unknown_version_or_model_is_not_found(three_versions: RegistryService) -> None:
    with pytest.raises(NotFound, match="no version 9") as caught:
        three_versions.set_alias("default", "m", "production", 9, actor="a")
    assert caught.value.field == "version"
    with pytest.raises(NotFound, match="model 'nope'"):
        three_versions.set_alias("default", "nope", "production", 1, actor="a")
    assert three_versions.alias_history("default", "m") == []


def test_latest_is_reserved(three_versions: RegistryService) -> None:
    registry = three_versions
    for reserved in ["latest", "Latest", "LATEST"]:
        with pytest.raises(InvalidInput, match="reserved") as caught:
            registry.set_alias("default", "m", reserved, 1, actor="a")
        assert caught.value.field == "alias"
        with pytest.raises(InvalidInput, match="reserved"):
            registry.delete_alias("default", "m", reserved, actor="a")
        with pytest.raises(InvalidInput, match="reserved"):
            registry.rollback_alias("default", "m", reserved, actor="a")
    assert registry.alias_history("default", "m") == []


def test_alias_names_are_validated(three_versions: RegistryService) -> None:
    for bad in ["1st", "-prod", "prod space", "a/b", "x" * 101, ""]:
        with pytest.raises(InvalidInput) as caught:
            three_versions.set_alias("default", "m", bad, 1, actor="a")
        assert caught.value.field == "alias"
        with pytest.raises(InvalidInput):
            three_versions.get_version_by_alias("default", "m", bad)
    # Letters, digits, '_', '.', '-' after a leading letter are fine.
    ok = three_versions.set_alias("default", "m", "Prod_2.eu-west", 1, actor="a")
    assert ok.alias == "Prod_2.eu-west"


def test_latest_resolves_to_the_newest_version(registry: RegistryService) -> None:
    registry.create_model("default", "m")
    with pytest.raises(NotFound, match="no versions yet"):
        registry.get_version_by_alias("default", "m", "latest")
    registry.create_version("default", "m")
    registry.create_version("default", "m", actor="bob")
    assert registry.get_version_by_alias("default", "m", "latest").version == 2
    latest = registry.get_alias("default", "m", "latest")
    assert (latest.alias, latest.version, latest.updated_by) == ("latest", 2, "bob")


def test_unknown_alias_is_not_found_and_lists_the_set_ones(three_versions: RegistryService) -> None:
    three_versions.set_alias("default", "m", "staging", 1, actor="a")
    with pytest.raises(NotFound, match=r"'production' is not set .*its aliases: staging") as caught:
        three_versions.get_version_by_alias("default", "m", "production")
    assert caught.value.field == "alias"
    with pytest.raises(NotFound):
        three_versions.get_alias("default", "m", "production")
    with pytest.raises(NotFound):
        three_versions.delete_alias("default", "m", "production", actor="a")


def test_delete_alias_records_a_move_to_nothing(three_versions: RegistryService) -> None:
    registry = three_versions
    registry.set_alias("default", "m", "production", 2, actor="alice")
    registry.delete_alias("default", "m", "production", actor="bob", reason="incident")
    assert registry.get_model("default", "m").aliases == {}
    assert registry.get_version("default", "m", 2).aliases == []
    newest = registry.alias_history("default", "m")[0]
    assert (newest.from_version, newest.to_version, newest.actor, newest.reason) == (
        2,
        None,
        "bob",
        "incident",
    )


def test_history_is_newest_first_and_filters_by_alias(three_versions: RegistryService) -> None:
    registry = three_versions
    registry.set_alias("default", "m", "staging", 1, actor="a")
    registry.set_alias("default", "m", "production", 1, actor="b")
    registry.set_alias("default", "m", "staging", 2, actor="c")
    everything = registry.alias_history("default", "m")
    assert [(e.alias, e.to_version, e.actor) for e in everything] == [
        ("staging", 2, "c"),
        ("production", 1, "b"),
        ("staging", 1, "a"),
    ]
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    staging = registry.alias_history("default", "m", "staging")
    assert [(e.from_version, e.to_version) for e in staging] == [(1, 2), (None, 1)]
    assert registry.alias_history("default", "m", "canary") == []
    with pytest.raises(NotFound):
        registry.alias_history("default", "nope")


# -- rollback -----------------------------------------------------------------------------------


def test_rollback_without_history_is_a_conflict(three_versions: RegistryService) -> None:
    with pytest.raises(Conflict, match="never been set") as caught:
        three_versions.rollback_alias("default", "m", "production", actor="a")
    assert caught.value.field == "alias"


def test_rollback_of_the_first_move_is_a_conflict(three_versions: RegistryService) -> None:
    three_versions.set_alias("default", "m", "production", 1, actor="a")
    with pytest.raises(Conflict, match="no earlier version to roll back to"):
        three_versions.rollback_alias("default", "m", "production", actor="a")
    assert three_versions.get_alias("default", "m", "production").version == 1


def test_repeated_rollbacks_walk_back_through_the_history(three_versions: RegistryService) -> None:
    registry = three_versions
    for version in (1, 2, 3):
        registry.set_alias("default", "m", "production", version, actor="alice")
    back = registry.rollback_alias("default", "m", "production", actor="bob", reason="latency")
    assert (back.version, back.updated_by) == (2, "bob")
    assert registry.rollback_alias("default", "m", "production", actor="carol").version == 1
    with pytest.raises(Conflict):
        registry.rollback_alias("default", "m", "production", actor="dave")
    history = registry.alias_history("default", "m", "production")
    assert [(e.from_version, e.to_version, e.actor, e.reason) for e in history] == [
        (2, 1, "carol", "rollback: back to v1"),
        (3, 2, "bob", "rollback: latency"),
        (2, 3, "alice", ""),
        (1, 2, "alice", ""),
        (None, 1, "alice", ""),
    ]


def test_rollback_after_a_new_promotion_undoes_that_promotion(
    three_versions: RegistryService,
) -> None:
    registry = three_versions
    registry.set_alias("default", "m", "production", 1, actor="a")
    registry.set_alias("default", "m", "production", 2, actor="a")
    assert registry.rollback_alias("default", "m", "production", actor="a").version == 1
    registry.set_alias("default", "m", "production", 3, actor="a")
    assert registry.rollback_alias("default", "m", "production", actor="a").version == 1
    with pytest.raises(Conflict):
        registry.rollback_alias("default", "m", "production", actor="a")


def test_rollback_after_a_manual_move_back_undoes_the_manual_move(
    three_versions: RegistryService,
) -> None:
    registry = three_versions
    for version in (1, 2, 1):
        registry.set_alias("default", "m", "production", version, actor="a")
    assert registry.rollback_alias("default", "m", "production", actor="a").version == 2
    assert registry.rollback_alias("default", "m", "production", actor="a").version == 1


def test_rollback_after_delete_restores_the_alias(three_versions: RegistryService) -> None:
    registry = three_versions
    registry.set_alias("default", "m", "production", 2, actor="a")
    registry.delete_alias("default", "m", "production", actor="a")
    restored = registry.rollback_alias("default", "m", "production", actor="b")
    assert (restored.version, restored.updated_by) == (2, "b")
    assert registry.get_model("default", "m").aliases == {"production": 2}
    newest = registry.alias_history("default", "m")[0]
    assert (newest.from_version, newest.to_version) == (None, 2)


def test_rollback_moves_only_its_own_alias(three_versions: RegistryService) -> None:
    registry = three_versions
    registry.set_alias("default", "m", "production", 1, actor="a")
    registry.set_alias("default", "m", "staging", 2, actor="a")
    registry.set_alias("default", "m", "production", 3, actor="a")
    registry.set_alias("default", "m", "staging", 3, actor="a")
    assert registry.rollback_alias("default", "m", "production", actor="a").version == 1
    assert registry.get_model("default", "m").aliases == {"production": 1, "staging": 3}
