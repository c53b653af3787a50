"""Entities of the access part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_PROJECT = "default"
LOCAL_ACTOR = "local"


@dataclass(frozen=True)
class Project:
    """A project: the unit that owns experiments, models, prompts and datasets."""

    id: int
    name: str
    description: str
    created_at: datetime
