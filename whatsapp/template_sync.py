"""Keeping ``MessageTemplate`` in line with the account's templates at Meta."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from whatsapp import client, template_shape
from whatsapp.models import MessageTemplate, WebhookDelivery

logger = logging.getLogger(__name__)

# Template events that are not a status of their own.
_EVENT_STATUS = {"REINSTATED": MessageTemplate.Status.APPROVED}


@dataclass(frozen=True)
class TemplateSyncResult:
    created: int
    updated: int
    deleted: int

    @property
    def total(self) -> int:
        return self.created + self.updated


def template_fields(remote: dict) -> dict:
    components = remote.get("components")
    components = components if isinstance(components, list) else []
    url_button = template_shape.dynamic_url_button(components)
    quality = remote.get("quality_score")
    reason = str(remote.get("rejected_reason") or "")
    return {
        "external_id": str(remote.get("id") or "")[:64],
        "category": str(remote.get("category") or "").upper()[:20],
        "status": str(remote.get("status") or "").upper()[:20],
        "components": components,
        "parameter_names": template_shape.body_parameter_names(components),
        "parameter_format": template_shape.parameter_format(remote),
        "url_button_index": url_button.index if url_button else None,
        "url_button_base": url_button.base_url[:500] if url_button else "",
        "quality_score": str(quality.get("score") or "")[:20] if isinstance(quality, dict) else "",
        "status_reason": "" if reason.upper() == "NONE" else reason[:300],
    }


def template_sync() -> TemplateSyncResult:
    """Fetch every template from the Cloud API and store it; templates no longer listed become DELETED.

    Raises WhatsAppError when the list cannot be fetched (nothing is changed then).
    """
    return templates_store(remote_templates=client.list_templates())


@transaction.atomic
def templates_store(*, remote_templates: list[dict]) -> TemplateSyncResult:
    now = timezone.now()
    created = updated = 0
    seen: list[int] = []
    for remote in remote_templates:
        name, language = str(remote.get("name") or ""), str(remote.get("language") or "")
        if not name or not language:
            logger.warning("template without name or language skipped (id %s)", remote.get("id"))
            continue
        template, was_created = MessageTemplate.objects.update_or_create(
            name=name[:512], language=language[:15], defaults={**template_fields(remote), "synced_at": now}
        )
        seen.append(template.pk)
        created, updated = created + was_created, updated + (not was_created)
    deleted = (
        MessageTemplate.objects.exclude(pk__in=seen)
        .exclude(status=MessageTemplate.Status.DELETED)
        .update(status=MessageTemplate.Status.DELETED, synced_at=now)
    )
    logger.info("templates synced: %s created, %s updated, %s marked deleted", created, updated, deleted)
    return TemplateSyncResult(created=created, updated=updated, deleted=deleted)


def _templates_sync_enqueue() -> None:
    from whatsapp.tasks import templates_sync_task

    templates_sync_task.delay()


def _template_for(value: dict) -> MessageTemplate | None:
    external_id = str(value.get("message_template_id") or "")
    if external_id:
        template = MessageTemplate.objects.select_for_update().filter(external_id=external_id).first()
        if template is not None:
            return template
    return (
        MessageTemplate.objects.select_for_update()
        .filter(name=value.get("message_template_name"), language=value.get("message_template_language"))
        .first()
    )


def template_status_webhook_apply(*, item: dict, delivery: WebhookDelivery | None = None) -> MessageTemplate | None:
    """``message_template_status_update``: APPROVED, REJECTED, PAUSED, DISABLED... for a stored template."""
    template = _template_for(item)
    event = str(item.get("event") or "").upper()
    if template is None:
        logger.info("status %s for a template we have not synced yet: syncing all templates", event)
        transaction.on_commit(_templates_sync_enqueue)
        return None
    status = _EVENT_STATUS.get(event, event)
    if status not in MessageTemplate.Status.values:
        template.status_reason = f"{event}: {item.get('reason') or ''}".strip(": ")[:300]
        template.save(update_fields=["status_reason"])
        return template
    reason = str(item.get("reason") or "")
    template.status = status
    template.status_reason = "" if reason.upper() in ("", "NONE") else reason[:300]
    template.synced_at = timezone.now()
    template.save(update_fields=["status", "status_reason", "synced_at"])
    return template


def template_quality_webhook_apply(*, item: dict, delivery: WebhookDelivery | None = None) -> MessageTemplate | None:
    """``message_template_quality_update``: the template's new quality score (GREEN, YELLOW, RED...)."""
    template = _template_for(item)
    if template is None:
        return None
    template.quality_score = str(item.get("new_quality_score") or "")[:20]
    template.save(update_fields=["quality_score"])
    return template


def template_category_webhook_apply(*, item: dict, delivery: WebhookDelivery | None = None) -> MessageTemplate | None:
    """``template_category_update``: Meta moved the template to ``new_category`` (e.g. UTILITY -> MARKETING).

    An impending change (``correct_category`` with ``category_update_timestamp``) changes nothing yet:
    ``new_category`` is then still the current one. The category counts from now on for every send.
    """
    template = _template_for(item)
    new = str(item.get("new_category") or "").upper()
    if template is None or new not in MessageTemplate.Category.values:
        return template
    if "previous_category" not in item and item.get("correct_category"):
        logger.warning("template %s will be recategorised to %s", template, item.get("correct_category"))
        return template
    template.category = new
    template.synced_at = timezone.now()
    template.save(update_fields=["category", "synced_at"])
    return template


def template_for_webhook(item: dict) -> MessageTemplate | None:
    """The stored template a template webhook is about (by Meta's id, else name and language)."""
    return _template_for(item)
