import logging

from core.logging import MaskPhoneNumbersFilter, mask_phone


def test_phone_numbers_in_log_lines_are_masked():
    assert mask_phone("opt-out from +4915123456789 accepted") == "opt-out from +***********89 accepted"
    assert mask_phone("wa_id 4915123456789") == "wa_id ***********89"
    assert mask_phone("contact 42 in campaign 7") == "contact 42 in campaign 7"


def test_the_log_filter_masks_numbers_passed_as_arguments():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sending to %s", ("+14155550103",), None)
    MaskPhoneNumbersFilter().filter(record)
    assert record.getMessage() == "sending to +*********03"


def test_log_lines_go_to_the_current_stderr_even_after_the_one_at_set_up_was_closed(monkeypatch):
    import io
    import logging.config

    from django.conf import settings

    replaced = io.StringIO()
    monkeypatch.setattr("sys.stderr", replaced)
    logging.config.dictConfig(settings.LOGGING)  # set up while stderr is a stream that is closed later
    replaced.close()
    now = io.StringIO()
    monkeypatch.setattr("sys.stderr", now)

    logging.getLogger("retarget.test").warning("opt-out from +4915123456789 recorded")

    assert "WARNING retarget.test opt-out from +***********89 recorded" in now.getvalue()
