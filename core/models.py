"""What every app writes to: the audit log."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.append_only import AppendOnlyError, AppendOnlyQuerySet
from core.audit_chain import GENESIS_HASH, audit_content_digest, audit_entry_hash

__all__ = ["AppendOnlyError", "AuditEntry", "AuditHead"]


class AuditEntry(models.Model):
    """Who did what, when, from where. Appended by core.audit; hash-chained (see core.audit_chain); read-only everywhere."""

    # What an erasure may scrub (consent.rights): mentions of the person, and the salt of the digest over them.
    ERASABLE_FIELDS = ("details", "object_id", "actor_label", "ip_address", "salt", "scrubbed_at", "scrubbed_digest")

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # PROTECT: the id is part of the hash, so nulling it would break the chain. Deactivate such users instead.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True, help_text="e.g. 'api token of alice', 'webhook'")
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    salt = models.CharField(max_length=32, blank=True, editable=False)
    content_digest = models.CharField(max_length=64, editable=False)
    previous_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, editable=False)
    scrubbed_at = models.DateTimeField(null=True, blank=True, editable=False)
    scrubbed_digest = models.CharField(max_length=64, blank=True, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        db_table = "consent_auditentry"  # created by the consent app; the table kept its name

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label or self.actor} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit entries cannot be changed.")
        if not self.entry_hash:
            raise AppendOnlyError("Audit entries are appended by core.audit (audit_record), which chains them.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit entries cannot be deleted.")

    def compute_content_digest(self) -> str:
        return audit_content_digest(
            salt=self.salt, details=self.details, object_id=self.object_id, actor_label=self.actor_label, ip_address=self.ip_address
        )

    def compute_hash(self) -> str:
        return audit_entry_hash(
            previous_hash=self.previous_hash, at=self.at, actor_id=self.actor_id, action=self.action,
            object_type=self.object_type, content_digest=self.content_digest,
        )  # fmt: skip


class AuditHead(models.Model):
    """The single row holding the audit log's newest hash; locking it serialises appends to the chain."""

    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"audit head {self.last_hash[:12]}…"
