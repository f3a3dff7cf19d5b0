from django.apps import AppConfig


class ImagesConfig(AppConfig):
    name = "webapp.images"
    label = "images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp.jobs.runners import register

        register("upscale", "webapp.images.runner.upscale_run")
