from django.urls import include, path

from moderation.views import queue

urlpatterns = [
    path("", queue.home, name="home"),
    path("queue/", queue.queue_index, name="queue"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("moderation.api.urls")),
]
