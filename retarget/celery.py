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
    """Before each task: drop a connection that is too old (CONN_MAX_AGE) or no longer answers.

    The check costs one round trip per task; web requests go without it (Django's default).
    """
    from django.db import close_old_connections, connections

    close_old_connections()
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()
