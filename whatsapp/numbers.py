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
