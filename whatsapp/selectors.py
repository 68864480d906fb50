"""Reads of the WhatsApp side shared by the API, the admin and campaigns."""

from __future__ import annotations

from django.db.models import QuerySet

from whatsapp.models import MessageTemplate


def template_list(*, status: str | None = None, category: str | None = None) -> QuerySet[MessageTemplate]:
    templates = MessageTemplate.objects.all()
    if status:
        templates = templates.filter(status=status.upper())
    if category:
        templates = templates.filter(category=category.upper())
    return templates


def templates_sendable() -> QuerySet[MessageTemplate]:
    """Templates a campaign may use: only APPROVED ones."""
    return MessageTemplate.objects.filter(status=MessageTemplate.Status.APPROVED)
