from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from django.core.signals import request_started

        from .kinds import ping
        from .recovery import recover_on_first_request
        from .registry import register

        register("ping", ping)
        # Not here directly: Django discourages queries during app loading, and a
        # `migrate` on an empty database must not touch a table that does not exist yet.
        request_started.connect(recover_on_first_request, dispatch_uid="jobs-recover")
