"""Forms of the consent domain: the hosted opt-in page, support's consent records, the CSV upload."""

from __future__ import annotations

from typing import Any

from django import forms

from consent.models import OptInForm
from consent.phones import InvalidPhoneNumber, phone_normalize


def _clean_phone(raw: str) -> str:
    try:
        return phone_normalize(raw)
    except InvalidPhoneNumber as exc:
        raise forms.ValidationError(str(exc)) from None


class OptInPageForm(forms.Form):
    """What a person fills in on /optin/<slug>/: their number and an unticked consent box."""

    NOTICE_CHANGED = "notice_changed"

    phone = forms.CharField(
        label="Your WhatsApp number",
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel", "placeholder": "+49 151 23456789"}),
    )
    consent = forms.BooleanField(
        required=True, error_messages={"required": "Tick the box if you want these messages."}
    )
    # The version shown when the page was loaded: the wording recorded is the wording read.
    notice_version = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, optin_form: OptInForm, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})["notice_version"] = optin_form.notice_version
        super().__init__(*args, **kwargs)
        self.optin_form = optin_form

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data["phone"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("notice_version") != self.optin_form.notice_version:
            raise forms.ValidationError(
                "The wording below changed while you were reading. Please read it and tick the box again.",
                code=self.NOTICE_CHANGED,
            )
        return cleaned
