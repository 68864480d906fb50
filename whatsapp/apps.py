from django.apps import AppConfig
from django.core import checks


class WhatsappConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        from whatsapp import handlers, services
        from whatsapp.webhooks import ItemKind

        checks.register(whatsapp_settings_check, checks.Tags.compatibility)
        checks.register(handlers.handlers_check)
        # Template, quality and account updates concern this app's own records.
        handlers.handler_register(ItemKind.CHANGE, services.changes_handle)


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
