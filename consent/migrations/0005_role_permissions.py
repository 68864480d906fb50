from django.db import migrations

from core.roles import role_permissions_operation


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0004_contact_import_permission_protect_recorder"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [role_permissions_operation("consent")]
