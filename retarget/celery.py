"""The Celery app: broker from REDIS_URL, or kombu's filesystem transport when unset."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retarget.settings")

app = Celery("retarget")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
