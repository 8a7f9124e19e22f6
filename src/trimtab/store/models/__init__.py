"""All models, imported here so `Base.metadata` is complete for Alembic and tests.

One module per concept; a new concept adds its module and one import line below.
"""

from trimtab.store.models.audit import AuditEntry
from trimtab.store.models.auth import ApiToken, DashboardSession, LoginFailure, ProjectKey, User
from trimtab.store.models.base import Base, utcnow
from trimtab.store.models.dependencies import (
    Dependency,
    DependencyReportBucket,
    DependencyTransition,
    FlagEvaluationBucket,
    FlagGuard,
)
from trimtab.store.models.errors import ErrorRollup, Event, Issue, IssueFacet, IssueUser
from trimtab.store.models.flags import (
    Flag,
    FlagConfig,
    FlagEvaluationStat,
    FlagSchedule,
    FlagSetRevision,
    Segment,
    UnleashClientRegistration,
)
from trimtab.store.models.notifications import Notification
from trimtab.store.models.tenancy import Environment, Organization, Project

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "DashboardSession",
    "Dependency",
    "DependencyReportBucket",
    "DependencyTransition",
    "Environment",
    "ErrorRollup",
    "Event",
    "Flag",
    "FlagConfig",
    "FlagEvaluationBucket",
    "FlagEvaluationStat",
    "FlagGuard",
    "FlagSchedule",
    "FlagSetRevision",
    "Issue",
    "IssueFacet",
    "IssueUser",
    "LoginFailure",
    "Notification",
    "Organization",
    "Project",
    "ProjectKey",
    "Segment",
    "UnleashClientRegistration",
    "User",
    "utcnow",
]
