from django.apps import AppConfig


class IcelabConfig(AppConfig):
    """The project-level app: the demo command, health checks and deployment checks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "icelab"
    verbose_name = "ICE Lab"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deployment checks)
