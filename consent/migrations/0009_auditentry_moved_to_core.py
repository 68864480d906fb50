# The audit log now belongs to the core app (core.0001 takes over the model; the table stays).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0008_contact_rights_permissions"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="AuditEntry")], database_operations=[]),
    ]
