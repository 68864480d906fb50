"""Signal receivers for staff access: Django's login view and its user and group admin change these,
so their signals are the interface. Each receiver only reads the signal and calls a service in
consent.staff_access, which writes the audit entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import m2m_changed, post_save, pre_save
from rest_framework.authtoken.models import Token

from core import staff_access
from core.client_ip import client_ip
from core.request_actor import current_actor


def _ip(request: Any) -> str | None:
    return client_ip(request) if request is not None and hasattr(request, "META") else None


def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    staff_access.staff_login_record(user=user, ip_address=_ip(request))


def _on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get(get_user_model().USERNAME_FIELD, ""))
    staff_access.staff_login_failure_record(username=username, ip_address=_ip(request))


def _on_locked_out(sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    staff_access.staff_login_failure_record(username=username or "", ip_address=ip_address, locked_out=True)


def _changed_ids(instance: Any, action: str, reverse: bool, pk_set: set[int] | None, accessor: str, reverse_accessor: str) -> tuple[set[int], bool] | None:
    """(ids on the other side, added?) for the m2m actions that change access; None for the others.

    "pre_clear" comes without the ids about to be removed, so they are read before they go.
    """
    if action == "pre_clear":
        related = getattr(instance, reverse_accessor if reverse else accessor)
        return set(related.values_list("pk", flat=True)), False
    if action in ("post_add", "post_remove") and pk_set:
        return set(pk_set), action == "post_add"
    return None


def _on_access_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any) -> None:
    """A user's roles, a role's permissions or a user's own permissions changed (see ``_ACCESS_RELATIONS``)."""
    accessor, reverse_accessor, record = _ACCESS_RELATIONS[sender]
    changed = _changed_ids(instance, action, reverse, pk_set, accessor, reverse_accessor)
    if changed is None or not changed[0]:
        return
    ids, added = changed
    holder_ids, granted_ids = (ids, {instance.pk}) if reverse else ({instance.pk}, ids)
    record(actor=current_actor(), holder_ids=holder_ids, granted_ids=granted_ids, added=added)


def _user_groups_record(*, holder_ids: set[int], granted_ids: set[int], **kwargs: Any) -> None:
    staff_access.user_groups_change_record(user_ids=holder_ids, group_ids=granted_ids, **kwargs)


def _permissions_record(holder_type: str) -> Any:
    def record(*, holder_ids: set[int], granted_ids: set[int], **kwargs: Any) -> None:
        staff_access.permissions_change_record(holder_type=holder_type, holder_ids=holder_ids, permission_ids=granted_ids, **kwargs)

    return record


# m2m "through" model -> (forward accessor, reverse accessor, service call); filled by connect().
_ACCESS_RELATIONS: dict[Any, tuple[str, str, Any]] = {}


def _on_user_pre_save(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(staff_access.USER_FLAGS):
        return  # e.g. the login's last_login update
    instance._access_flags_before = sender.objects.filter(pk=instance.pk).values(*staff_access.USER_FLAGS).first()


def _on_user_post_save(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    if created:
        staff_access.user_flags_change_record(actor=current_actor(), user=instance, before=None)
    elif getattr(instance, "_access_flags_before", None) is not None:
        before = instance.__dict__.pop("_access_flags_before")
        staff_access.user_flags_change_record(actor=current_actor(), user=instance, before=before)


def _on_token_saved(sender: Any, instance: Token, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if created and not raw:
        staff_access.api_token_create_record(actor=current_actor(), token=instance)


def connect() -> None:
    """Called from ConsentConfig.ready()."""
    User = get_user_model()
    user_logged_in.connect(_on_login, dispatch_uid="consent.audit.login")
    user_login_failed.connect(_on_login_failed, dispatch_uid="consent.audit.login_failed")
    user_locked_out.connect(_on_locked_out, dispatch_uid="consent.audit.locked_out")
    _ACCESS_RELATIONS.update(
        {
            User.groups.through: ("groups", "user_set", _user_groups_record),
            Group.permissions.through: ("permissions", "group_set", _permissions_record("group")),
            User.user_permissions.through: ("user_permissions", "user_set", _permissions_record("user")),
        }
    )
    for through in _ACCESS_RELATIONS:
        m2m_changed.connect(_on_access_changed, sender=through, dispatch_uid=f"consent.audit.{through._meta.label}")
    pre_save.connect(_on_user_pre_save, sender=User, dispatch_uid="consent.audit.user_pre_save")
    post_save.connect(_on_user_post_save, sender=User, dispatch_uid="consent.audit.user_post_save")
    post_save.connect(_on_token_saved, sender=Token, dispatch_uid="consent.audit.token_saved")


@contextmanager
def access_audit_paused() -> Iterator[None]:
    """Record no group or permission changes meanwhile: for restoring data nobody changed (the test
    database's serialized contents), where m2m signals, which carry no ``raw`` flag, would otherwise
    audit every restored grant as new."""
    throughs = list(_ACCESS_RELATIONS)
    for through in throughs:
        m2m_changed.disconnect(sender=through, dispatch_uid=f"consent.audit.{through._meta.label}")
    try:
        yield
    finally:
        for through in throughs:
            m2m_changed.connect(_on_access_changed, sender=through, dispatch_uid=f"consent.audit.{through._meta.label}")

