# Inbound messages and opt-in confirmations now belong to the conversations app (its 0001 takes over
# the models; the tables stay).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("whatsapp", "0004_webhook_indexes"),
        ("conversations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="optinconfirmation", name="consent_event"),
                migrations.RemoveField(model_name="optinconfirmation", name="contact"),
                migrations.RemoveField(model_name="optinconfirmation", name="form"),
                migrations.RemoveField(model_name="optinconfirmation", name="message"),
                migrations.DeleteModel(name="InboundMessage"),
                migrations.DeleteModel(name="OptInConfirmation"),
            ],
            database_operations=[],
        ),
    ]
