"""Sign-up codes: a web opt-in confirmed by a WhatsApp message from the number typed on the form.

A form only proves that someone typed a number. The thank-you page therefore offers a prefilled
message such as "JOIN ACME 482193" (a wa.me link and a QR code for our number); the person sending
it from the number they typed proves the number is theirs: Meta tells us the sender's number, the
code ties the message to the form's evidence. This works without any approved template.

A code is one-time, expires with its request (WHATSAPP_OPTIN_CONFIRMATION_DAYS) and counts only from
the number typed on the form; both are stored as keyed hashes only. A number that sent
WHATSAPP_JOIN_ATTEMPTS_PER_HOUR codes matching nothing within an hour has no more checked until the
hour is over, so guessing gets nowhere.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from consent.models import Contact, OptInForm
from consent.phones import wa_id_numbers
from consent.services import suppression_hash
from conversations.double_optin import Confirmed, confirmation_grant
from conversations.models import InboundMessage, OptInConfirmation
from core.logging import mask_phone
from core.ratelimit import rate_limit_count, rate_limit_hit
from whatsapp.numbers import number_get

logger = logging.getLogger(__name__)

JOIN_WORD = "JOIN"
JOIN_RATE_SCOPE = "join_code"
CODE_DIGITS = 6
# "JOIN ACME 482193" as sent, or typed with other spacing, case or a business word of its own.
_JOIN_MESSAGE = re.compile(rf"^\s*{JOIN_WORD}\b.*?\b(\d{{{CODE_DIGITS}}})\W*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class JoinRefused:
    """A sign-up code that confirmed nothing, and what the person is told."""

    reply: str
    action: str = "join_refused"  # recorded on the inbound message


def join_code_new() -> tuple[str, str]:
    """A fresh code and the hash kept of it."""
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    return code, join_code_hash(code)


def join_code_hash(code: str) -> str:
    return salted_hmac("conversations.join_codes", code, algorithm="sha256").hexdigest()


def join_message_text(form: OptInForm, code: str) -> str:
    """The message the person sends: JOIN, the business's first word (so they recognise it), the code."""
    word = re.sub(r"[^0-9A-Z]", "", (form.business_name.split() or [""])[0].upper())
    return " ".join(part for part in (JOIN_WORD, word, code) if part)


def join_link(text: str, *, phone_number_id: str = "") -> str:
    """A wa.me link opening a chat with our number (``phone_number_id``; empty: the default), ``text``
    prefilled; empty when that number's display number is not known.

    Format: https://wa.me/<number, digits only>?text=<URL-encoded text>
    (https://www.instantmessageconnector.com/blog/whatsapp-click-to-chat-links-explained/,
    https://docs.360dialog.com/docs/resources/phone-numbers/message-links).
    """
    found = number_get(phone_number_id)
    digits = re.sub(r"\D", "", found.display_phone_number) if found is not None else ""
    return f"https://wa.me/{digits}?text={quote(text)}" if digits else ""


def join_qr_svg(link: str) -> str:
    """The link as an inline SVG QR code: drawn in the page, so the page loads nothing from elsewhere."""
    qr = segno.make(link, error="m", micro=False)
    return qr.svg_inline(scale=4, border=4, dark="#000", light="#fff", svgclass="qr", lineclass=None, title="QR code")


def join_code_read(inbound: InboundMessage) -> str | None:
    """The code of a sign-up code message, or None for any other message."""
    if inbound.type != "text":
        return None
    match = _JOIN_MESSAGE.match(inbound.text or "")
    return match.group(1) if match else None


def join_code_handle(*, contact: Contact, inbound: InboundMessage) -> Confirmed | JoinRefused | None:
    """Confirm the pending web opt-in this sign-up code message names; None when it is no such message.

    A code message is always answered here and never read as a keyword: a code from another
    number, a used or expired one confirms nothing.
    """
    code = join_code_read(inbound)
    if code is None:
        return None
    # Only codes that matched nothing count: a person confirming a fresh sign-up is never held back.
    limit_key = suppression_hash(inbound.from_wa_id)
    if rate_limit_count(scope=JOIN_RATE_SCOPE, key=limit_key) >= settings.WHATSAPP_JOIN_ATTEMPTS_PER_HOUR:
        logger.warning("sign-up codes from %s over the hourly limit; not checked", mask_phone(inbound.from_wa_id))
        return JoinRefused(reply="Too many sign-up codes from this number in the last hour. Please try again later.")
    with transaction.atomic():
        confirmation = (
            OptInConfirmation.objects.select_for_update(of=("self",))
            .select_related("form__purpose")
            .filter(
                number_hash__in=[suppression_hash(number) for number in wa_id_numbers(inbound.from_wa_id)],
                join_code_hash=join_code_hash(code),
                confirmed_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .first()
        )
        if confirmation is not None:
            return confirmation_grant(confirmation, contact=contact, inbound=inbound, how="sign-up code message")
    rate_limit_hit(scope=JOIN_RATE_SCOPE, key=limit_key, limit=settings.WHATSAPP_JOIN_ATTEMPTS_PER_HOUR)
    logger.info("sign-up code from %s matched no open web opt-in", mask_phone(inbound.from_wa_id))
    return JoinRefused(
        reply=(
            "This code does not match a sign-up for this number, so nothing changed. A code works once, "
            f"for {settings.WHATSAPP_OPTIN_CONFIRMATION_DAYS} days, and only from the number entered on the "
            "sign-up page. Please sign up again on our website."
        )
    )
