"""Access: projects now; users, roles, API keys and the audit log with access control."""

from podium.access.models import DEFAULT_PROJECT, LOCAL_ACTOR, Project
from podium.access.service import ProjectService, check_name

__all__ = ["DEFAULT_PROJECT", "LOCAL_ACTOR", "Project", "ProjectService", "check_name"]
