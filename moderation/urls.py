from django.urls import include, path

from moderation.views import (
    appeals,
    audit,
    enforcement,
    items,
    policy,
    privacy,
    queue,
    reports,
    subjects,
    thresholds,
    two_factor,
)

urlpatterns = [
    path("", queue.home, name="home"),
    path("queue/", queue.queue_index, name="queue"),
    path("queue/next/", queue.queue_next, name="queue-next"),
    path("items/<int:pk>/", items.item_detail, name="item"),
    path("items/<int:pk>/decide/", items.item_decide, name="item-decide"),
    path("items/<int:pk>/lease/", items.item_lease, name="item-lease"),
    path("items/<int:pk>/reveal/", items.item_reveal, name="item-reveal"),
    path("items/<int:pk>/undo/", items.item_undo, name="item-undo"),
    path("items/<int:pk>/overturn/", items.item_overturn, name="item-overturn"),
    path(
        "subjects/<slug:organization>/<str:user_id_hash>/",
        subjects.subject_detail,
        name="subject",
    ),
    path(
        "subjects/<slug:organization>/<str:user_id_hash>/act/",
        subjects.subject_act,
        name="subject-act",
    ),
    path("enforcement/", enforcement.enforcement_index, name="enforcement"),
    path("enforcement/<uuid:pk>/decide/", enforcement.proposal_decide, name="proposal-decide"),
    path(
        "enforcement/deliveries/<int:pk>/redeliver/",
        enforcement.delivery_redeliver,
        name="delivery-redeliver",
    ),
    path("settings/thresholds/", thresholds.thresholds_edit, name="thresholds"),
    path("appeals/", appeals.appeals_index, name="appeals"),
    path("appeals/<uuid:pk>/decide/", appeals.appeal_decide, name="appeal-decide"),
    path(
        "appeals/<uuid:pk>/reveal-personal-data/",
        appeals.appeal_reveal_pii,
        name="appeal-reveal-pii",
    ),
    path("items/<int:pk>/reveal-personal-data/", items.item_reveal_pii, name="item-reveal-pii"),
    path("settings/policy/", policy.policy_index, name="policy"),
    path("settings/policy/exceptions/", policy.exception_grant, name="exception-grant"),
    path(
        "settings/policy/exceptions/<int:pk>/revoke/",
        policy.exception_revoke,
        name="exception-revoke",
    ),
    path("settings/policy/values/", policy.policy_settings_save, name="policy-settings"),
    path("privacy/", privacy.privacy_index, name="privacy"),
    path("privacy/export/", privacy.privacy_export, name="privacy-export"),
    path("privacy/erase/", privacy.privacy_erase, name="privacy-erase"),
    path("exports/training.jsonl", privacy.training_export, name="training-export"),
    path("reports/classifiers/", reports.classifier_report_page, name="classifier-report"),
    path(
        "reports/classifiers.csv", reports.classifier_report_csv_view, name="classifier-report-csv"
    ),
    path("audit/", audit.audit_index, name="audit"),
    path("accounts/two-factor/", two_factor.two_factor_page, name="two-factor"),
    path(
        "accounts/two-factor/recovery-codes/",
        two_factor.recovery_codes_new,
        name="two-factor-recovery-codes",
    ),
    path("settings/users/", two_factor.users_index, name="users"),
    path(
        "settings/users/<int:pk>/reset-two-factor/",
        two_factor.user_two_factor_reset,
        name="user-two-factor-reset",
    ),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("moderation.api.urls")),
]
