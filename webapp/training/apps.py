from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "webapp.training"
    label = "training"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp.jobs.runners import register

        register("train", "webapp.training.runner.train_run")
        register("evaluate", "webapp.training.evaluation.evaluate_run")
