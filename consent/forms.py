"""Forms of the consent domain: the hosted opt-in page, support's consent records, the CSV upload."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from consent.models import Contact, OptInForm, validate_time_zone
from consent.phones import InvalidPhoneNumber, phone_example, phone_normalize


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
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
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
        # The page's own country reads national numbers ("0151 ..."); without one, the installation's.
        self.region = optin_form.country or settings.PHONE_DEFAULT_REGION
        example = phone_example(self.region)
        if self.region:
            # Spoken to the person: they cannot change our settings, only what they typed.
            self.phone_hint = f"For example {example}; from another country, start with + and the country code."
            self.phone_invalid = f"That does not look like a phone number. Write it like {example}, or with + and the country code."
            required = "Enter your WhatsApp number."
        else:
            self.phone_hint = f"With the country code, for example {example}."
            self.phone_invalid = f"That does not look like a phone number; include your country code, for example {example}."
            required = "Enter your WhatsApp number, with its country code."
        phone = self.fields["phone"]
        phone.error_messages = {**phone.error_messages, "required": required, "max_length": self.phone_invalid}
        phone.widget.attrs["placeholder"] = example
        phone.help_text = self.phone_hint

    def clean_phone(self) -> str:
        try:
            return phone_normalize(self.cleaned_data["phone"], region=self.region)
        except InvalidPhoneNumber:
            raise forms.ValidationError(self.phone_invalid, code="invalid") from None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("notice_version") != self.optin_form.notice_version:
            raise forms.ValidationError(
                "The wording below changed while you were reading. Please read it and tick the box again.",
                code=self.NOTICE_CHANGED,
            )
        return cleaned


class ContactAdminForm(forms.ModelForm):
    """The contact form of the admin: the number is read in any format and stored as E.164."""

    time_zone = forms.CharField(
        required=False,
        max_length=64,
        validators=[validate_time_zone],
        help_text="IANA name such as Europe/Berlin; derived from the number when empty.",
    )

    class Meta:
        model = Contact
        fields = ["phone", "name", "language", "time_zone", "wa_id", "attributes", "tags"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "phone" in self.fields:  # read-only once the contact exists
            region = settings.PHONE_DEFAULT_REGION
            self.fields["phone"].help_text = (
                f"Any format: +49 151 23456789, 0049 151 23456789, or national ({phone_example(region)}) for a number of {region}."
                if region
                else "With the country code, in any format: +49 151 23456789, 0049 151 23456789."
            )

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data["phone"])



class SupportOptOutForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why and how the person asked, e.g. 'phoned support on 3 March, ticket 4711'. Kept in the ledger.",
    )


class SupportOptInForm(forms.Form):
    notice_text = forms.CharField(
        label="Notice the person agreed to",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The exact wording they said yes to: what messages, from whom, how often.",
    )
    notice_version = forms.CharField(max_length=40, required=False)
    evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How they gave consent, e.g. 'asked by e-mail on 3 March, ticket 4711'. Kept in the ledger.",
    )


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, with a header row. Columns: phone, name, language, tags (separated by ;), consent_source, "
        "consent_opted_in_at, consent_notice_version, consent_notice_text, consent_evidence; any other column "
        "becomes an attribute.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region = settings.PHONE_DEFAULT_REGION
        numbers = (
            f"Numbers with their country code (+49 151…, 0049 151…) or national ones, read as numbers of {region} ({phone_example(region)})."
            if region
            else "Numbers with their country code: +49 151…, 0049 151… or 49151…."
        )
        self.fields["file"].help_text = f"{self.fields['file'].help_text} {numbers}"


class ContactEraseForm(forms.Form):
    """Support confirms an erasure request: it cannot be undone."""

    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How the person asked, e.g. 'e-mail of 3 March, ticket 4711'. Kept in the audit log (numbers masked).",
    )
    confirm = forms.BooleanField(
        label="I understand that this erases the person's data for good",
        error_messages={"required": "Tick the box to confirm: an erasure cannot be undone."},
    )


class ContactRectifyForm(forms.Form):
    """Support corrects a name or number on the person's request."""

    name = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(
        label="Phone number",
        max_length=40,
        help_text="Any format. A new number ends the consent given for the old one: the person opts in again.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why, e.g. 'asked by phone on 3 March, ticket 4711'. Kept in the audit log (numbers masked).",
    )

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data["phone"])
