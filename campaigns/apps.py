from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from campaigns import personal_data, statuses
        from whatsapp.handlers import handler_register
        from whatsapp.webhooks import ItemKind

        handler_register(ItemKind.STATUS, statuses.statuses_handle)
        personal_data.register()
