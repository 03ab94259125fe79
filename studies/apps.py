from django.apps import AppConfig


class StudiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "studies"

    def ready(self) -> None:
        from .job_kinds import register_job_kinds

        register_job_kinds()
