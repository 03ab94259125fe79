from django.apps import AppConfig


class IcelabConfig(AppConfig):
    """The project-level app: the demo command, which runs every app, lives here."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "icelab"
    verbose_name = "ICE Lab"
