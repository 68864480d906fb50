import logging

from retarget.logging import MaskPhoneNumbersFilter, mask_phone


def test_phone_numbers_in_log_lines_are_masked():
    assert mask_phone("opt-out from +4915123456789 accepted") == "opt-out from +***********89 accepted"
    assert mask_phone("wa_id 4915123456789") == "wa_id ***********89"
    assert mask_phone("contact 42 in campaign 7") == "contact 42 in campaign 7"


def test_the_log_filter_masks_numbers_passed_as_arguments():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sending to %s", ("+14155550103",), None)
    MaskPhoneNumbersFilter().filter(record)
    assert record.getMessage() == "sending to +*********03"
