from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from campaigns.analytics import reply_counter_register
        from conversations import inbound, personal_data, replies
        from whatsapp.handlers import handler_register
        from whatsapp.webhooks import ItemKind

        handler_register(ItemKind.INBOUND, inbound.inbound_items_handle, urgent=inbound.is_optout)
        # Every marketing stop in the preferences is an opt-out: applied before the 200.
        handler_register(ItemKind.PREFERENCE, inbound.preference_items_handle, urgent=lambda item: True)
        personal_data.register()
        reply_counter_register(replies.campaign_replies_count)
