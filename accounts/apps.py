from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts.middleware import session_refreshed_on_login

        user_logged_in.connect(session_refreshed_on_login, dispatch_uid="accounts-session-refresh")
