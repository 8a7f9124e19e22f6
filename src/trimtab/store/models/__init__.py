"""All models, imported here so `Base.metadata` is complete for Alembic and tests.

One module per concept; a new concept adds its module and one import line below.
"""

from trimtab.store.models.alerts import AlertDelivery, AlertRule, AlertTarget, SpikeMark
from trimtab.store.models.attachments import EventAttachment, UserFeedback
from trimtab.store.models.audit import AuditEntry
from trimtab.store.models.auth import ApiToken, DashboardSession, LoginFailure, ProjectKey, User
from trimtab.store.models.base import MAX_BIG_ROW_ID, MAX_ROW_ID, Base, utcnow
from trimtab.store.models.change_relay import ChangeRelayRow
from trimtab.store.models.dependencies import (
    AutoOffRule,
    Dependency,
    DependencyReportBucket,
    DependencyReporter,
    DependencyTransition,
    FlagEvaluationBucket,
)
from trimtab.store.models.deploys import (
    Deploy,
    DeployAgent,
    DeployRun,
    FreezeRule,
    Release,
    Service,
    ServiceRequirement,
    StabilizationSetting,
    StabilizationWindow,
)
from trimtab.store.models.flags import (
    Flag,
    FlagConfig,
    FlagEvaluationHour,
    FlagEvaluationStat,
    FlagSchedule,
    FlagSetRevision,
    Segment,
    UnleashClientRegistration,
)
from trimtab.store.models.ingest_quota import IngestQuotaWindow
from trimtab.store.models.logs import LogLine
from trimtab.store.models.maintenance import MaintenanceNotice
from trimtab.store.models.notifications import Notification
from trimtab.store.models.release_health import HealthBucket, HealthSession
from trimtab.store.models.reports import (
    ErrorRollup,
    ErrorRollupHour,
    Event,
    Issue,
    IssueFacet,
    IssueUser,
)
from trimtab.store.models.sourcemaps import (
    ArtifactBundle,
    ArtifactFile,
    SourceBlob,
    UploadChunk,
)
from trimtab.store.models.tenancy import Environment, Organization, Project
from trimtab.store.models.usage import IngestUsageDay

__all__ = [
    "MAX_BIG_ROW_ID",
    "MAX_ROW_ID",
    "AlertDelivery",
    "AlertRule",
    "AlertTarget",
    "ApiToken",
    "ArtifactBundle",
    "ArtifactFile",
    "AuditEntry",
    "AutoOffRule",
    "Base",
    "ChangeRelayRow",
    "DashboardSession",
    "Dependency",
    "DependencyReportBucket",
    "DependencyReporter",
    "DependencyTransition",
    "Deploy",
    "DeployAgent",
    "DeployRun",
    "Environment",
    "ErrorRollup",
    "ErrorRollupHour",
    "Event",
    "EventAttachment",
    "Flag",
    "FlagConfig",
    "FlagEvaluationBucket",
    "FlagEvaluationHour",
    "FlagEvaluationStat",
    "FlagSchedule",
    "FlagSetRevision",
    "FreezeRule",
    "HealthBucket",
    "HealthSession",
    "IngestQuotaWindow",
    "IngestUsageDay",
    "Issue",
    "IssueFacet",
    "IssueUser",
    "LogLine",
    "LoginFailure",
    "MaintenanceNotice",
    "Notification",
    "Organization",
    "Project",
    "ProjectKey",
    "Release",
    "Segment",
    "Service",
    "ServiceRequirement",
    "SourceBlob",
    "SpikeMark",
    "StabilizationSetting",
    "StabilizationWindow",
    "UnleashClientRegistration",
    "UploadChunk",
    "User",
    "UserFeedback",
    "utcnow",
]
