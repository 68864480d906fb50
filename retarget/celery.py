"""The Celery app: broker from REDIS_URL, or kombu's filesystem transport when unset."""

import os
from pathlib import Path

from celery import Celery, beat
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retarget.settings")

app = Celery("retarget")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_FILESYSTEM_BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


@app.on_after_configure.connect
def _filesystem_broker_folders_create(sender: Celery, **kwargs: object) -> None:
    """Kombu's filesystem transport expects its folders to exist; settings create nothing when imported.

    Runs once per process, when the app first reads its configuration (a worker starting, a task sent).
    """
    if not str(sender.conf.broker_url).startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options or {}
    for key in _FILESYSTEM_BROKER_FOLDERS:
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


class FolderCreatingPersistentScheduler(beat.PersistentScheduler):
    """Celery's default beat scheduler, creating the schedule file's folder before opening it."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


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
