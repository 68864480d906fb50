# Inbound messages and opt-in confirmations move from the whatsapp app; their tables keep their names and rows.

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


MOVED = ("inboundmessage", "optinconfirmation")


def content_types_move(apps, schema_editor):
    """Permissions and the admin's history follow the models: their content types change app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="conversations", model=model).exists():
            ContentType.objects.filter(app_label="whatsapp", model=model).update(app_label="conversations")


def content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="conversations", model__in=MOVED).update(app_label="whatsapp")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('campaigns', '0006_message_content'),
        ('consent', '0009_auditentry_moved_to_core'),
        ('whatsapp', '0004_webhook_indexes'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='InboundMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('wamid', models.CharField(max_length=200, unique=True)),
                        ('from_wa_id', models.CharField(db_index=True, max_length=20)),
                        ('type', models.CharField(max_length=20)),
                        ('text', models.TextField(blank=True, help_text='Text body, button text or caption')),
                        ('payload', models.CharField(blank=True, help_text='Quick-reply button payload or interactive reply id', max_length=1000)),
                        ('context_wamid', models.CharField(blank=True, help_text='The message this one replies to', max_length=200)),
                        ('sent_at', models.DateTimeField(help_text="When the person sent it (Meta's timestamp)")),
                        ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('keyword_action', models.CharField(blank=True, help_text='opt_out, opt_in, help or confirm, if any', max_length=20)),
                        ('answered', models.BooleanField(default=False, help_text='Set when support (or an automatic reply) answered it')),
                        ('contact', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='inbound_messages', to='consent.contact')),
                        ('delivery', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='whatsapp.webhookdelivery')),
                    ],
                    options={
                        'db_table': 'whatsapp_inboundmessage',
                        'ordering': ['-sent_at'],
                        'indexes': [models.Index(fields=['answered', '-sent_at'], name='whatsapp_in_answere_381b7a_idx'), models.Index(fields=['received_at'], name='inbound_received')],
                    },
                ),
                migrations.CreateModel(
                    name='OptInConfirmation',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('notice_text', models.TextField()),
                        ('notice_version', models.CharField(blank=True, max_length=40)),
                        ('page_url', models.URLField(blank=True, max_length=500)),
                        ('ip_address', models.GenericIPAddressField(blank=True, null=True)),
                        ('user_agent', models.CharField(blank=True, max_length=500)),
                        ('actor_label', models.CharField(blank=True, max_length=150)),
                        ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('expires_at', models.DateTimeField()),
                        ('confirmed_at', models.DateTimeField(blank=True, null=True)),
                        ('confirmed_by_wamid', models.CharField(blank=True, max_length=200)),
                        ('consent_event', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='consent.consentevent')),
                        ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='optin_confirmations', to='consent.contact')),
                        ('form', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='consent.optinform')),
                        ('message', models.ForeignKey(blank=True, help_text='The confirmation template sent to the person', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='campaigns.message')),
                    ],
                    options={
                        'db_table': 'whatsapp_optinconfirmation',
                        'ordering': ['-requested_at'],
                        'indexes': [models.Index(fields=['contact', 'confirmed_at', '-requested_at'], name='whatsapp_op_contact_8f020a_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_back),
    ]
