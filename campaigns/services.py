"""Writes of the campaigns domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from campaigns.models import STATUS_RANK, Message, MessageStatus

_STATUS_TIMESTAMP_FIELD = {
    MessageStatus.SENT: "sent_at",
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.FAILED: "failed_at",
}


@dataclass(frozen=True)
class StatusReport:
    """One status from a WhatsApp webhook, already parsed."""

    wamid: str
    status: str  # sent | delivered | read | failed
    at: datetime
    callback_data: str = ""
    error_code: int | None = None
    error_title: str = ""
    error_detail: str = ""


def _message_id_from_callback(callback_data: str) -> uuid.UUID | None:
    prefix, _, raw = (callback_data or "").partition(":")
    if prefix != "msg":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@transaction.atomic
def message_status_apply(report: StatusReport) -> Message | None:
    """Move one message forward by a status report; returns the message, or None when unknown.

    Statuses only move forward (sent < delivered < read), so a late ``delivered`` after ``read``
    only fills in its timestamp; ``failed`` is final. A message whose send was never recorded (the
    worker died after the HTTP call) is found through ``biz_opaque_callback_data``.
    """
    message = Message.objects.select_for_update().filter(wamid=report.wamid).first()
    if message is None:
        message_id = _message_id_from_callback(report.callback_data)
        if message_id is not None:
            message = Message.objects.select_for_update().filter(pk=message_id).first()
            if message is not None and not message.wamid:
                message.wamid = report.wamid
    if message is None:
        return None

    update_fields = {"wamid"}
    timestamp_field = _STATUS_TIMESTAMP_FIELD.get(report.status)
    if timestamp_field and getattr(message, timestamp_field) is None:
        setattr(message, timestamp_field, report.at)
        update_fields.add(timestamp_field)

    if message.status != MessageStatus.FAILED:
        if report.status == MessageStatus.FAILED:
            message.status = MessageStatus.FAILED
            message.error_code = report.error_code
            message.error_title = report.error_title[:300]
            message.error_detail = report.error_detail
            update_fields |= {"status", "error_code", "error_title", "error_detail"}
        elif STATUS_RANK.get(report.status, 0) > STATUS_RANK.get(message.status, 0):
            message.status = report.status
            update_fields.add("status")
    message.save(update_fields=sorted(update_fields))
    return message
