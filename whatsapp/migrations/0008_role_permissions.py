from django.db import migrations

from core.roles import role_permissions_operation


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0007_webhook_delivery_foreign_items"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [role_permissions_operation("whatsapp")]
