from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from campaigns import lifecycle, personal_data, statuses
        from whatsapp.handlers import handler_register
        from whatsapp.webhooks import ItemKind

        handler_register(ItemKind.STATUS, statuses.statuses_handle)
        # After whatsapp's own CHANGE handler (its app is listed first), which stores the template's new state.
        handler_register(ItemKind.CHANGE, lifecycle.changes_handle)
        personal_data.register()
        _rate_card_check()


def _rate_card_check() -> None:
    """A malformed rate card stops start-up, naming the file and the row, rather than a wrong estimate later."""
    from django.core.exceptions import ImproperlyConfigured

    from campaigns.pricing import RateCardError, rate_card_current

    try:
        rate_card_current()
    except RateCardError as exc:
        raise ImproperlyConfigured(f"WHATSAPP_RATE_CARD_FILE: {exc}") from None
