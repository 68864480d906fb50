from django.db import migrations

from core.roles import role_permissions_operation


class Migration(migrations.Migration):
    dependencies = [("consent", "0005_role_permissions"), ("campaigns", "0002_events_segments_sending")]
    operations = [role_permissions_operation("campaigns")]
