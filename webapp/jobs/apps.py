from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "webapp.jobs"
    label = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp import checks  # noqa: F401 - registers the deployment checks
        from webapp.jobs import signals  # noqa: F401 - connects the worker start-up reconcile
