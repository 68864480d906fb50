"""Staff access: logins, roles and permissions, API tokens. Every change is audit-logged here.

Logins and role changes happen in Django's own code (the login view, the user and group admin),
so consent/signals.py hands them to these services; token revocation is called directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from rest_framework.authtoken.models import Token

from core.audit import Actor, audit_record
from core.models import AuditEntry

logger = logging.getLogger(__name__)

# The account flags that are permissions in all but name.
USER_FLAGS = ("is_active", "is_staff", "is_superuser")


def _users(user_ids: Iterable[int]) -> list[tuple[int, str]]:
    User = get_user_model()
    return list(User.objects.filter(pk__in=list(user_ids)).order_by("pk").values_list("pk", User.USERNAME_FIELD))


def _permission_names(permission_ids: Iterable[int]) -> list[str]:
    return sorted(
        f"{app}.{codename}"
        for app, codename in Permission.objects.filter(pk__in=list(permission_ids)).values_list(
            "content_type__app_label", "codename"
        )
    )


def staff_login_record(*, user: User, ip_address: str | None) -> AuditEntry:
    return audit_record(
        actor=Actor(user=user, ip_address=ip_address), action="auth.login", object_type="user", object_id=user.pk
    )


def staff_login_failure_record(*, username: str, ip_address: str | None, locked_out: bool = False) -> AuditEntry:
    """A wrong password, or (``locked_out``) a login refused because of too many of them."""
    action = "auth.lockout" if locked_out else "auth.login_failed"
    if locked_out:
        logger.warning("login locked out for user %s after too many failures", username)
    return audit_record(
        actor=Actor(label=f"login as {username}"[:150], ip_address=ip_address), action=action, object_type="user",
        object_id=username[:64], details={"username": username[:150]},
    )  # fmt: skip


def user_groups_change_record(*, actor: Actor, user_ids: Iterable[int], group_ids: Iterable[int], added: bool) -> list[AuditEntry]:
    """Users joined or left roles (auth groups): one entry per user, naming the roles."""
    groups = sorted(Group.objects.filter(pk__in=list(group_ids)).values_list("name", flat=True))
    return [
        audit_record(
            actor=actor, action="auth.role_add" if added else "auth.role_remove", object_type="user",
            object_id=user_id, details={"user": username, "roles": groups},
        )  # fmt: skip
        for user_id, username in _users(user_ids)
    ]


def permissions_change_record(
    *, actor: Actor, holder_type: str, holder_ids: Iterable[int], permission_ids: Iterable[int], added: bool
) -> list[AuditEntry]:
    """A role (``holder_type`` "group") or users directly ("user") gained or lost permissions: one entry per holder."""
    permissions = _permission_names(permission_ids)
    if holder_type == "group":
        holders = list(Group.objects.filter(pk__in=list(holder_ids)).order_by("pk").values_list("pk", "name"))
        action, key = "auth.role_permission", "role"
    else:
        holders, action, key = _users(holder_ids), "auth.user_permission", "user"
    return [
        audit_record(
            actor=actor, action=f"{action}_{'add' if added else 'remove'}", object_type=holder_type, object_id=pk,
            details={key: name, "permissions": permissions},
        )  # fmt: skip
        for pk, name in holders
    ]


def user_flags_change_record(
    *, actor: Actor, user: User, before: dict[str, bool] | None
) -> AuditEntry | None:
    """An account created with, or changed in, active/staff/superuser status (``before`` None: created)."""
    after = {flag: bool(getattr(user, flag)) for flag in USER_FLAGS}
    if before is None:
        return audit_record(actor=actor, action="auth.user_create", object_type="user", object_id=user.pk, details={"user": user.get_username(), **after})
    changes = {flag: [before[flag], after[flag]] for flag in USER_FLAGS if before[flag] != after[flag]}
    if not changes:
        return None
    return audit_record(
        actor=actor, action="auth.user_flags", object_type="user", object_id=user.pk,
        details={"user": user.get_username(), "changes": changes},
    )  # fmt: skip


def api_token_create_record(*, actor: Actor, token: Token) -> AuditEntry:
    return audit_record(
        actor=actor, action="auth.token_create", object_type="user", object_id=token.user_id,
        details={"user": token.user.get_username(), "token": token.key[:6] + "…"},
    )  # fmt: skip


@transaction.atomic
def api_token_revoke(*, token: Token, actor: Actor) -> None:
    """Delete an API token: every later request with it gets 401. Only the first characters are logged."""
    user = token.user
    audit_record(
        actor=actor, action="auth.token_revoke", object_type="user", object_id=user.pk,
        details={"user": user.get_username(), "token": token.key[:6] + "…"},
    )  # fmt: skip
    token.delete()
    logger.info("API token of user %s revoked by %s", user.pk, actor.display)
