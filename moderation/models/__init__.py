from .audit import AuditAction, AuditEvent
from .batches import BatchStatus, InboundBatch
from .decisions import FINAL_VERDICTS, Decision, Verdict, VoidReason
from .enforcement import (
    ActionKind,
    ActionState,
    Appeal,
    AppealState,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EnforcementAction,
    ThresholdChange,
    Thresholds,
)
from .items import WAITING_STATES, FlaggedItem, ItemState, ReviewQueue, Signal
from .organizations import (
    ApiKey,
    ApiKeySecret,
    Organization,
    new_webhook_secret,
    secret_digest,
)
from .policy import (
    SEVERITY_WEIGHT,
    CategoryAlias,
    PolicyCategory,
    PolicyException,
    PolicySettings,
    Severity,
)
from .subjects import Subject, SubjectStatus

__all__ = [
    "ActionKind",
    "ActionState",
    "Appeal",
    "AppealState",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "EnforcementAction",
    "ThresholdChange",
    "Thresholds",
    "FINAL_VERDICTS",
    "WAITING_STATES",
    "AuditAction",
    "AuditEvent",
    "Decision",
    "Verdict",
    "VoidReason",
    "SEVERITY_WEIGHT",
    "ApiKey",
    "ApiKeySecret",
    "BatchStatus",
    "CategoryAlias",
    "FlaggedItem",
    "InboundBatch",
    "ItemState",
    "Organization",
    "PolicyCategory",
    "PolicyException",
    "PolicySettings",
    "ReviewQueue",
    "Severity",
    "Signal",
    "Subject",
    "SubjectStatus",
    "new_webhook_secret",
    "secret_digest",
]
