from django.urls import include, path

from moderation.views import audit, items, queue, subjects

urlpatterns = [
    path("", queue.home, name="home"),
    path("queue/", queue.queue_index, name="queue"),
    path("queue/next/", queue.queue_next, name="queue-next"),
    path("items/<int:pk>/", items.item_detail, name="item"),
    path("items/<int:pk>/decide/", items.item_decide, name="item-decide"),
    path("items/<int:pk>/lease/", items.item_lease, name="item-lease"),
    path("items/<int:pk>/reveal/", items.item_reveal, name="item-reveal"),
    path(
        "subjects/<slug:organization>/<str:user_id_hash>/",
        subjects.subject_detail,
        name="subject",
    ),
    path("audit/", audit.audit_index, name="audit"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("moderation.api.urls")),
]
