"""Who looks after a conversation: support assigns a person's conversation to one agent, or frees it.

Only staff who may answer can be assigned. Every change is audit-logged with who did it.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet

from consent.models import Contact
from conversations.models import ConversationAssignment
from core.audit import Actor, audit_record

ANSWER_PERMISSION = "campaigns.answer_inbound"


class AssignmentRefused(ValueError):
    """An assignment that cannot be made; the message says why."""


def support_agents() -> QuerySet:
    """Active staff who may answer people: the choices for an assignment."""
    app_label, codename = ANSWER_PERMISSION.split(".")
    granted = Q(user_permissions__codename=codename, user_permissions__content_type__app_label=app_label) | Q(
        groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label
    )
    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | granted, is_active=True, is_staff=True)
        .distinct()
        .order_by("username")
    )


@transaction.atomic
def conversation_assign(*, contact: Contact, agent: User, actor: Actor) -> ConversationAssignment:
    if not agent.is_active or not agent.has_perm(ANSWER_PERMISSION):
        raise AssignmentRefused(f"{agent.get_username()} may not answer people, so cannot be assigned.")
    assignment, _ = ConversationAssignment.objects.update_or_create(
        contact=contact,
        defaults={"agent": agent, "assigned_by": actor.user if isinstance(actor.user, User) else None},
    )
    audit_record(
        actor=actor, action="support.assign", object_type="contact", object_id=contact.pk,
        details={"agent": agent.get_username()},
    )  # fmt: skip
    return assignment


@transaction.atomic
def conversation_unassign(*, contact: Contact, actor: Actor) -> None:
    deleted, _ = ConversationAssignment.objects.filter(contact=contact).delete()
    if deleted:
        audit_record(actor=actor, action="support.unassign", object_type="contact", object_id=contact.pk)
