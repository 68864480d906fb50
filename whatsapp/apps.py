from django.apps import AppConfig
from django.core import checks


class WhatsappConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        checks.register(whatsapp_settings_check, checks.Tags.compatibility)


def whatsapp_settings_check(app_configs, **kwargs):
    """Warn about every WhatsApp credential left empty: sending or webhooks would fail at run time."""
    from django.conf import settings

    missing = [
        name
        for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
        if not getattr(settings, name, "")
    ]
    return [
        checks.Warning(f"{name} is empty.", hint=f"Set the {name} environment variable.", id="whatsapp.W001")
        for name in missing
    ]
