# The audit log becomes hash-chained and append-only (issue 12): existing entries are chained in id
# order, then a PostgreSQL trigger refuses UPDATE, DELETE and TRUNCATE but an erasure's scrub.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.append_only import append_only_trigger_operation, unchanged_except_sql
from core.audit_chain import GENESIS_HASH, audit_content_digest, audit_entry_hash, audit_salt_new

ERASABLE = ("details", "object_id", "actor_label", "ip_address", "salt", "scrubbed_at", "scrubbed_digest")
# An erasure's scrub: only the erasable columns change, the salt goes and the entry is marked scrubbed.
ERASURE_CHECK = f"{unchanged_except_sql(ERASABLE)} AND NEW.salt = '' AND NEW.scrubbed_at IS NOT NULL AND NEW.scrubbed_digest <> ''"


def chain_existing_entries(apps, schema_editor):
    AuditEntry = apps.get_model("core", "AuditEntry")
    AuditHead = apps.get_model("core", "AuditHead")
    last_hash = GENESIS_HASH
    batch = []
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        entry.salt = audit_salt_new()
        entry.content_digest = audit_content_digest(
            salt=entry.salt, details=entry.details, object_id=entry.object_id, actor_label=entry.actor_label, ip_address=entry.ip_address
        )
        entry.previous_hash = last_hash
        entry.entry_hash = last_hash = audit_entry_hash(
            previous_hash=last_hash, at=entry.at, actor_id=entry.actor_id, action=entry.action,
            object_type=entry.object_type, content_digest=entry.content_digest,
        )  # fmt: skip
        batch.append(entry)
        if len(batch) == 2000:
            AuditEntry.objects.bulk_update(batch, ["salt", "content_digest", "previous_hash", "entry_hash"])
            batch = []
    AuditEntry.objects.bulk_update(batch, ["salt", "content_digest", "previous_hash", "entry_hash"])
    AuditHead.objects.update_or_create(pk=1, defaults={"last_hash": last_hash})


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_hash", models.CharField(default=GENESIS_HASH, max_length=64)),
            ],
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="actor",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(model_name="auditentry", name="salt", field=models.CharField(blank=True, editable=False, max_length=32)),
        migrations.AddField(
            model_name="auditentry", name="content_digest", field=models.CharField(default="", editable=False, max_length=64), preserve_default=False
        ),
        migrations.AddField(
            model_name="auditentry", name="previous_hash", field=models.CharField(default="", editable=False, max_length=64), preserve_default=False
        ),
        migrations.AddField(
            model_name="auditentry", name="entry_hash", field=models.CharField(default="", editable=False, max_length=64), preserve_default=False
        ),
        migrations.AddField(model_name="auditentry", name="scrubbed_at", field=models.DateTimeField(blank=True, editable=False, null=True)),
        migrations.AddField(
            model_name="auditentry", name="scrubbed_digest", field=models.CharField(blank=True, editable=False, max_length=64)
        ),
        migrations.RunPython(chain_existing_entries, migrations.RunPython.noop),
        append_only_trigger_operation(table="consent_auditentry", function="audit_entry_append_only", erasure_check=ERASURE_CHECK),
    ]
