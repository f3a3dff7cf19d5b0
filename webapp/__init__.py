"""SR Studio web app: Django + Celery + Channels around sr_engine."""

from webapp.celery import app as celery_app

__all__ = ["celery_app"]
