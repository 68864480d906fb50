"""Which WhatsApp business phone numbers and accounts are ours.

One app (and one app secret) may receive webhooks for numbers and accounts that are not this
installation's, e.g. a second number of the same business used by another tool. Only items for
our own numbers may change consent or message statuses. Today "ours" is the one configured number
and account; several can be added here later without touching the webhook code.
"""

from __future__ import annotations

from django.conf import settings


def our_phone_number_ids() -> frozenset[str]:
    return frozenset(value for value in (settings.WHATSAPP_PHONE_NUMBER_ID,) if value)


def our_business_account_ids() -> frozenset[str]:
    return frozenset(value for value in (settings.WHATSAPP_BUSINESS_ACCOUNT_ID,) if value)


def is_our_phone_number_id(phone_number_id: str) -> bool:
    """Whether ``phone_number_id`` (a change's ``metadata.phone_number_id``) is one of our numbers."""
    return str(phone_number_id) in our_phone_number_ids()


def is_our_business_account_id(account_id: str) -> bool:
    """Whether ``account_id`` (an entry's ``id``: the WhatsApp Business Account) is one of ours."""
    return str(account_id) in our_business_account_ids()


def marketing_messages_api_enabled(phone_number_id: str) -> bool:
    """Whether the number sends its marketing templates through the Marketing Messages API.

    Today the one configured number follows WHATSAPP_MARKETING_MESSAGES_API; a number configured in
    the admin answers from its own field here.
    """
    return bool(settings.WHATSAPP_MARKETING_MESSAGES_API) and str(phone_number_id) in our_phone_number_ids()


def marketing_messages_api_for(*, category: str, phone_number_id: str) -> bool:
    """Whether a template of ``category`` sent from ``phone_number_id`` goes to ``/marketing_messages``.

    The one place that picks the endpoint of a template send. Only the latest MARKETING category goes
    there, the rest always to ``/messages``: Meta's "Route template messages by category"
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/marketing-messages/route-template-messages/)
    maps MARKETING to /marketing_messages and every other category to /messages, as the endpoint
    refuses them (134100 / 131055). Free-form text never comes here.
    """
    return str(category).upper() == "MARKETING" and marketing_messages_api_enabled(phone_number_id)
