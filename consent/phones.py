"""Phone numbers: parsing to E.164 with libphonenumber, and time zones derived from a number."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezones

_SEPARATORS = re.compile(r"[\s().\-]")


class InvalidPhoneNumber(ValueError):
    """A phone number that cannot be read or is not a possible number; the message says why."""


# libphonenumber's region for country codes of no country: +800 freephone, +808 shared cost,
# +870/+881 satellite, +882/+883 international networks, +888 (OCHA; also Telegram's anonymous
# numbers), +979 premium rate.
NON_GEOGRAPHIC_REGION = "001"

_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "the country code is unknown",
    phonenumbers.ValidationResult.TOO_SHORT: "it is too short",
    phonenumbers.ValidationResult.TOO_LONG: "it is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "it has the wrong number of digits for its country",
}


def phone_parse(raw: str, *, region: str | None = None) -> phonenumbers.PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("A phone number is required.")
    region = region or settings.PHONE_DEFAULT_REGION
    if region is None:
        # Without a region a number can only be international: "0049..." (the usual dialling
        # prefix) or the bare digits WhatsApp ids and CSV exports carry, both meaning "+49...".
        # A single leading 0 is a national trunk prefix: that number needs a region.
        digits = _SEPARATORS.sub("", text)
        if digits.startswith("00"):
            text = "+" + digits[2:]
        elif digits.isdigit() and not digits.startswith("0"):
            text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and text.startswith("+"):
            raise InvalidPhoneNumber(f"{raw!r} starts with an unknown country code.") from None
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhoneNumber(
                f"{raw!r} has no country code: write it as +<country code><number>"
                " (or set PHONE_DEFAULT_REGION for national numbers)."
            ) from None
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number.") from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (phonenumbers.ValidationResult.IS_POSSIBLE, phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number: {_REASONS.get(possible, 'it is not possible')}.")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number for its country.")
    if phonenumbers.region_code_for_number(number) == NON_GEOGRAPHIC_REGION:
        # Meta asks for numbers "with a country and area code" and prices, restricts and routes
        # every message by the recipient's country
        # (https://developers.facebook.com/docs/whatsapp/overview/phone-number); a freephone,
        # satellite or network number has no country, so no time zone for quiet hours either.
        raise InvalidPhoneNumber(
            f"{raw!r} has the non-geographic country code +{number.country_code} (no country): "
            "only numbers of a country can be messaged on WhatsApp."
        )
    return number


def phone_region_known(region: str) -> bool:
    """Whether ``region`` (e.g. "DE") is a country libphonenumber can read national numbers of."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def phone_example(region: str | None) -> str:
    """A mobile number as people of ``region`` write it ("0151 23456789"), or an international one without a region."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE) if region else None
    if number is None:
        return "+49 151 23456789"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` in E.164 (``+4915123456789``) or raise InvalidPhoneNumber with the reason."""
    return phonenumbers.format_number(phone_parse(raw, region=region), phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def _parse_e164(e164: str) -> phonenumbers.PhoneNumber:
    # A new contact asks for its time zone and its country: parse its number once (imports do many).
    return phonenumbers.parse(e164)


# A winter and a summer moment: zones that agree on both keep the same clock all year.
_OFFSET_PROBES = (datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 7, 15, 12, tzinfo=UTC))

# Where most people live in countries whose mobile numbers span several clocks (the first zone of
# each country in the tz database's zone1970.tab, which lists the most populous first).
_MAIN_ZONES = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CL": "America/Santiago",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MX": "America/Mexico_City",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "US": "America/New_York",
}


def _offsets(zone: str) -> tuple[timedelta | None, ...]:
    return tuple(probe.astimezone(ZoneInfo(zone)).utcoffset() for probe in _OFFSET_PROBES)


def _parse_e164_or_none(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return _parse_e164(e164)
    except phonenumbers.NumberParseException:
        return None


def phone_time_zone(e164: str) -> str:
    """The number's time zone when its region has one useful answer, else UTC.

    Candidate zones keeping the same clock count as one answer (a UK mobile may be in London,
    Jersey, Guernsey or the Isle of Man); when they differ, the zone most of the country lives in.
    An unreadable or non-geographic number gets UTC.
    """
    number = _parse_e164_or_none(e164)
    if number is None:
        return "UTC"
    zones = sorted(z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown")
    if not zones:
        return "UTC"
    main = _MAIN_ZONES.get(phonenumbers.region_code_for_number(number) or "")
    if len({_offsets(zone) for zone in zones}) > 1:
        return main if main in zones else "UTC"
    return next((zone for zone in zones if zone in _EQUIVALENT_ZONE_NAMES), zones[0])


# Among zones with the same clock, the name people recognise.
_EQUIVALENT_ZONE_NAMES = frozenset({"Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Amsterdam", "Europe/Rome"})


def phone_country(e164: str) -> str:
    """The two-letter region of the number; empty for an unreadable or non-geographic one."""
    number = _parse_e164_or_none(e164)
    region = phonenumbers.region_code_for_number(number) if number is not None else None
    return region if region and region != NON_GEOGRAPHIC_REGION else ""


def phone_to_wa_id(e164: str) -> str:
    """WhatsApp's form of a number: digits only, no +."""
    return e164.lstrip("+")


def phone_wa_id_matches(e164: str, wa_id: str) -> bool:
    """Whether ``wa_id`` can be the WhatsApp id of ``e164``.

    Usually the digits of the number. Two known exceptions keep an account's older form
    (https://github.com/devlikeapro/waha/issues/238, https://github.com/wwebjs/whatsapp-web.js/issues/596,
    https://github.com/evolution-foundation/evolution-api/issues/447): Brazilian mobiles registered
    before the ninth digit (55 AA 9XXXXXXXX -> 55 AA XXXXXXXX) and Mexican mobiles with the old
    mobile prefix 1 (52 XXXXXXXXXX -> 52 1 XXXXXXXXXX).
    """
    digits = phone_to_wa_id(e164)
    if wa_id == digits:
        return True
    if digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        return wa_id == digits[:4] + digits[5:]
    if digits.startswith("52") and len(digits) == 12:
        return wa_id == "521" + digits[2:]
    return False


def wa_id_numbers(wa_id: str) -> list[str]:
    """The E.164 numbers ``wa_id`` can be the WhatsApp id of: the inverse of ``phone_wa_id_matches``."""
    if not wa_id or not wa_id.isdigit():
        return []
    numbers = [f"+{wa_id}"]
    if wa_id.startswith("55") and len(wa_id) == 12:
        numbers.append(f"+{wa_id[:4]}9{wa_id[4:]}")
    if wa_id.startswith("521") and len(wa_id) == 13:
        numbers.append(f"+52{wa_id[3:]}")
    return numbers
