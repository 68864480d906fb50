from django.db import migrations


def create_marketing_purpose(apps, schema_editor):
    Purpose = apps.get_model("consent", "Purpose")
    Purpose.objects.get_or_create(
        code="marketing",
        defaults={"name": "Marketing", "description": "Offers, news and re-engagement messages on WhatsApp."},
    )


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]
    operations = [migrations.RunPython(create_marketing_purpose, migrations.RunPython.noop)]
