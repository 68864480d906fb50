import pytest
from django.test import override_settings

from consent.phones import InvalidPhoneNumber, phone_normalize, phone_time_zone


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+4915123456789", "Europe/Berlin"),
        ("+447400123456", "Europe/London"),  # London, Jersey, Guernsey, Isle of Man: one clock
        ("+14155550103", "America/Los_Angeles"),  # a geographic number has its own zone
        ("+34612345105", "Europe/Madrid"),  # Spanish mobiles may be in the Canaries, most are not
        ("+61412345678", "Australia/Sydney"),
        ("+79161234567", "Europe/Moscow"),
    ],
)
def test_a_contacts_time_zone_follows_from_its_number(number, zone):
    assert phone_time_zone(number) == zone


@pytest.mark.parametrize("typed", ["+49 151 23456789", "0049 151 23456789", "4915123456789", "+49 (151) 234-567-89"])
def test_international_numbers_are_read_without_a_default_region(typed):
    assert phone_normalize(typed) == "+4915123456789"


@override_settings(PHONE_DEFAULT_REGION="DE")
def test_a_national_number_is_read_with_the_default_region():
    assert phone_normalize("0151 23456789") == "+4915123456789"


def test_a_national_number_without_a_default_region_is_refused_with_advice():
    with pytest.raises(InvalidPhoneNumber, match="has no country code: write it as \\+<country code><number>"):
        phone_normalize("0151 23456789")
