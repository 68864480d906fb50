"""The Celery app: broker from REDIS_URL, or kombu's filesystem transport when unset."""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retarget.settings")

app = Celery("retarget")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _database_connections_check(**kwargs: object) -> None:
    """Before each task, as Django does before each request: drop a broken or too old connection."""
    from django.db import close_old_connections

    close_old_connections()
