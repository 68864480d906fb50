from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Audit and staff access"

    def ready(self) -> None:
        post_migrate.connect(_role_permissions_ensure, sender=self)
        from core import signals

        signals.connect()


def _role_permissions_ensure(sender: AppConfig, apps: Any = global_apps, **kwargs: Any) -> None:
    """Re-grant the role table after every migrate and flush, like Django re-creates permissions.

    The migrations grant it too; this keeps roles whole after a flush (transactional tests) and
    applies a table edit on the next ``migrate``. A flush sends no ``apps``: the models are current.
    """
    from core.roles import ROLE_PERMISSIONS, role_permissions_grant

    for app_label in ROLE_PERMISSIONS:
        if apps.is_installed(app_label):
            role_permissions_grant(apps, app_label=app_label)

