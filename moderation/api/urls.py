from django.urls import path

from moderation.api import views

urlpatterns = [
    path("flags/<str:key_id>", views.flags_receive, name="api-flags"),
    path("batches/<str:batch_id>", views.batch_status, name="api-batch"),
    path("subjects/lookup", views.subject_lookup, name="api-subject-lookup"),
    path("appeals/<str:key_id>", views.appeal_receive, name="api-appeals"),
]
