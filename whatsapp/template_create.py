"""Creating a message template from the admin: checked by Meta's rules, submitted, stored as PENDING.

Its review then follows like any template's: the ``message_template_status_update`` webhook
(template_sync.template_status_webhook_apply, which finds it by Meta's id) and the template sync.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.audit import Actor, audit_record
from whatsapp import client, template_rules
from whatsapp.models import MessageTemplate
from whatsapp.template_sync import template_fields

logger = logging.getLogger(__name__)


# Stands in a definition for the handle of a sample file that ``template_submit`` uploads first.
UPLOAD_PENDING = "(sample file, uploaded on submit)"


@dataclass(frozen=True)
class ExampleFile:
    """A media header's sample file, as a person chose it: uploaded to Meta for its handle."""

    name: str
    content_type: str
    data: bytes


class TemplateRefused(Exception):
    """The template breaks Meta's rules, exists already, or Meta refused it: ``problems`` say why in words."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def template_submit(
    *, definition: dict[str, Any], actor: Actor, example_files: dict[str, ExampleFile] | None = None
) -> MessageTemplate:
    """Submit ``definition`` (the body of Meta's create call) for review and store it as Meta answered.

    ``example_files``: the sample file of the ``header`` and of every ``card_header``, uploaded first;
    their handles replace ``UPLOAD_PENDING`` in the definition. Raises TemplateRefused before calling
    Meta when a rule is broken or the name exists in that language here, and after it when Meta
    refuses (its explanation included).
    """
    problems = template_rules.definition_problems(definition)
    if problems:
        raise TemplateRefused(problems)
    name, language = definition["name"], definition["language"]
    if MessageTemplate.objects.filter(name=name, language=language).exclude(status=MessageTemplate.Status.DELETED).exists():
        raise TemplateRefused([f"A template named {name} already exists in {language}: choose another name or language."])
    for where, example in (example_files or {}).items():
        definition = _handle_put(definition, where, _example_upload(example))
    try:
        answer = client.create_template(definition)
    except client.WhatsAppError as error:
        logger.warning("template %s/%s refused: %s", name, language, error)
        raise TemplateRefused([_refusal_text(error)]) from error
    remote = {**definition, "id": answer["id"], "status": answer.get("status") or MessageTemplate.Status.PENDING,
              "category": answer.get("category") or definition["category"]}  # fmt: skip
    with transaction.atomic():
        template, _ = MessageTemplate.objects.update_or_create(
            name=name, language=language, defaults={**template_fields(remote), "synced_at": timezone.now()}
        )
        audit_record(
            actor=actor, action="whatsapp.template_submit", object_type="message_template", object_id=template.pk,
            details={"name": name, "language": language, "category": template.category, "status": template.status},
        )  # fmt: skip
    return template


def _example_upload(example: ExampleFile) -> str:
    try:
        return client.upload_example_file(data=example.data, file_name=example.name, file_type=example.content_type)
    except client.WhatsAppError as error:
        logger.warning("sample file %s not uploaded: %s", example.name, error)
        said = " ".join(part for part in (error.title, error.details or error.message) if part)
        raise TemplateRefused([f"The sample file {example.name} could not be uploaded to WhatsApp: {said} Nothing was created."]) from error


def _handle_put(definition: dict[str, Any], where: str, handle: str) -> dict[str, Any]:
    """The definition with ``handle`` as the example of its header (``header``) or of every card's (``card_header``)."""

    def media_header(component: dict) -> dict:
        if component.get("type") == "HEADER" and component.get("format") != "TEXT":
            return {**component, "example": {"header_handle": [handle]}}
        return component

    components = []
    for component in definition["components"]:
        if where == "header":
            component = media_header(component)
        elif component.get("type") == "CAROUSEL":
            cards = [{**card, "components": [media_header(part) for part in card.get("components", [])]} for card in component.get("cards", [])]
            component = {**component, "cards": cards}
        components.append(component)
    return {**definition, "components": components}


def _refusal_text(error: client.WhatsAppError) -> str:
    if error.code is None and error.reached_provider:
        return "No readable answer from WhatsApp: the template may have been created. Sync the templates before trying again."
    if error.code is None:
        return "WhatsApp could not be reached: nothing was created. Try again later."
    said = " ".join(part for part in (error.title, error.details or error.message) if part)
    return f"WhatsApp refused the template (error {error.code}): {said}"
