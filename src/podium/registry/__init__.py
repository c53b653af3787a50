"""Model registry: registered models, immutable versions, aliases with history.

Only the entities are re-exported here, so importing ``podium.registry.models`` or ``.schemas``
stays light (no database stack); the use cases are ``podium.registry.service.RegistryService``.
"""

from podium.registry.models import (
    ALIAS_PATTERN,
    LATEST_ALIAS,
    Alias,
    AliasEvent,
    ModelVersion,
    RegisteredModel,
)

__all__ = [
    "ALIAS_PATTERN",
    "LATEST_ALIAS",
    "Alias",
    "AliasEvent",
    "ModelVersion",
    "RegisteredModel",
]
