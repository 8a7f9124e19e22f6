"""All models, imported here so `Base.metadata` is complete for Alembic and tests.

One module per concept; a new concept adds its module and one import line below.
"""

from trimtab.store.models.alerts import AlertDelivery, AlertRule, AlertTarget, SpikeMark
from trimtab.store.models.audit import AuditEntry
from trimtab.store.models.auth import ApiToken, DashboardSession, LoginFailure, ProjectKey, User
from trimtab.store.models.base import Base, utcnow
from trimtab.store.models.errors import ErrorRollup, Event, Issue, IssueFacet, IssueUser
from trimtab.store.models.notifications import Notification
from trimtab.store.models.release_health import HealthBucket, HealthSession
from trimtab.store.models.tenancy import Environment, Organization, Project

__all__ = [
    "AlertDelivery",
    "AlertRule",
    "AlertTarget",
    "ApiToken",
    "AuditEntry",
    "Base",
    "DashboardSession",
    "Environment",
    "ErrorRollup",
    "Event",
    "HealthBucket",
    "HealthSession",
    "Issue",
    "IssueFacet",
    "IssueUser",
    "LoginFailure",
    "Notification",
    "Organization",
    "Project",
    "ProjectKey",
    "SpikeMark",
    "User",
    "utcnow",
]
