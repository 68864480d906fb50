"""The template creation form: fields a person fills in, turned into the body of Meta's create call."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from whatsapp.models import MessageTemplate
from whatsapp.template_create import UPLOAD_PENDING, ExampleFile
from whatsapp.template_rules import (
    MAX_BODY,
    MAX_BUTTON_TEXT,
    MAX_CARD_BODY,
    MAX_CARDS,
    MAX_CODE_EXPIRATION,
    MAX_FOOTER,
    MAX_HEADER_TEXT,
    MAX_NAME,
    MAX_OFFER_TEXT,
    MIN_CARDS,
    definition_problems,
    example_file_problem,
)
from whatsapp.template_shape import text_placeholders

BUTTON_ROWS = 4
CARD_BUTTON_ROWS = 2  # a carousel card has one or two buttons
CARD_BUTTON_CHOICES = [("", "(none)"), ("QUICK_REPLY", "Quick reply"), ("URL", "Link (URL)")]
HEADER_CHOICES = [("", "No header"), ("TEXT", "Text"), ("IMAGE", "Image"), ("VIDEO", "Video"), ("DOCUMENT", "Document")]
BUTTON_CHOICES = [
    ("", "(none)"),
    ("QUICK_REPLY", "Quick reply"),
    ("URL", "Link (URL)"),
    ("COPY_CODE", "Copy code (coupon)"),
    ("PHONE_NUMBER", "Call a number"),
]
CAROUSEL_EXAMPLE = (
    '[{"type": "BODY", "text": "Hi {{1}}, picked for you:", "example": {"body_text": [["Ana"]]}},\n'
    ' {"type": "CAROUSEL", "cards": [{"components": [\n'
    '   {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::..."]}},\n'
    '   {"type": "BODY", "text": "{{1}} on sale", "example": {"body_text": [["Trail runner"]]}},\n'
    '   {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "More like this"}]}]}, ...]}]'
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class TemplateCreateForm(forms.Form):
    name = forms.CharField(
        max_length=MAX_NAME, help_text="Lowercase letters, digits and underscores, e.g. summer_sale_2026. People never see it.",
    )  # fmt: skip
    language = forms.CharField(max_length=15, initial="en_US", help_text="The locale code, e.g. en, en_US, de, pt_BR.")
    category = forms.ChoiceField(
        choices=MessageTemplate.Category.choices, initial=MessageTemplate.Category.MARKETING,
        help_text="Marketing needs marketing consent to send; Meta may move a template to another category.",
    )  # fmt: skip
    parameter_format = forms.ChoiceField(
        choices=[("POSITIONAL", "Numbered: {{1}}, {{2}}"), ("NAMED", "Named: {{first_name}}")], initial="POSITIONAL",
        label="Variables",
    )  # fmt: skip
    header_format = forms.ChoiceField(choices=HEADER_CHOICES, required=False, label="Header")
    header_text = forms.CharField(
        required=False, max_length=MAX_HEADER_TEXT, label="Header text",
        help_text=f"Up to {MAX_HEADER_TEXT} characters and one variable.",
    )  # fmt: skip
    header_example = forms.CharField(
        required=False, max_length=500, label="Header example",
        help_text="For a text header with a variable: an example value. For an image, video or document: "
        "the media handle Meta's upload API gave for a sample file (or upload the file below).",
    )  # fmt: skip
    header_example_file = forms.FileField(
        required=False, label="Header sample file",
        help_text="For an image (JPEG or PNG, up to 5 MB), video (MP4, up to 16 MB) or document (PDF, up to 100 MB) "
        "header: a sample file, uploaded to WhatsApp for its handle when you submit.",
    )  # fmt: skip
    body_text = forms.CharField(
        required=False, max_length=MAX_BODY, widget=forms.Textarea(attrs={"rows": 4}), label="Body",
        help_text=f"Up to {MAX_BODY} characters; variables as chosen above, not at the very start or end.",
    )  # fmt: skip
    body_examples = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Body examples",
        help_text="One example value per line, for each variable in the order they appear. Meta reviews the template with them.",
    )  # fmt: skip
    offer_text = forms.CharField(
        required=False, max_length=MAX_OFFER_TEXT, label="Limited-time offer",
        help_text=f"Marketing only, instead of a footer: a short offer title (up to {MAX_OFFER_TEXT} characters), e.g. Expiring offer!",
    )  # fmt: skip
    offer_expires = forms.BooleanField(required=False, label="Offer shows a countdown", help_text="Each campaign then sets when its offer ends.")
    footer_text = forms.CharField(required=False, max_length=MAX_FOOTER, label="Footer", help_text=f"Up to {MAX_FOOTER} characters, no variables.")
    security_recommendation = forms.BooleanField(
        required=False, label="Security advice", help_text="Authentication only: add “For your security, do not share this code.”",
    )  # fmt: skip
    code_expiration_minutes = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_CODE_EXPIRATION, label="Code expires after (minutes)",
        help_text="Authentication only: WhatsApp writes the message and its copy-code button; header, body and buttons above are not used.",
    )  # fmt: skip
    card_count = forms.IntegerField(
        required=False, min_value=MIN_CARDS, max_value=MAX_CARDS, label="Carousel cards",
        help_text=f"{MIN_CARDS} to {MAX_CARDS} cards, shown side by side under the body; leave empty for no carousel. "
        "A carousel has no header, footer or buttons of its own.",
    )  # fmt: skip
    card_header_format = forms.ChoiceField(choices=[("IMAGE", "Image"), ("VIDEO", "Video")], required=False, label="Card header")
    card_header_example = forms.CharField(
        required=False, max_length=500, label="Card header example",
        help_text="A media handle for a sample file (used for every card), or upload the file below.",
    )  # fmt: skip
    card_header_example_file = forms.FileField(
        required=False, label="Card header sample file", help_text="An image (JPEG or PNG) or video (MP4) for every card's header.",
    )  # fmt: skip
    card_bodies = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Card texts",
        help_text=f"One line per card, up to {MAX_CARD_BODY} characters each; variables as chosen above.",
    )  # fmt: skip
    card_body_examples = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Card examples",
        help_text="One line per card: its example values in order, separated by | (e.g. Trail runner | 15%).",
    )  # fmt: skip
    components_json = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Advanced: components as JSON",
        help_text="Replaces everything above with Meta's components list, e.g. for a carousel whose cards differ: "
        + CAROUSEL_EXAMPLE,
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(BUTTON_ROWS):
            self.fields[f"button_{i}_type"] = forms.ChoiceField(choices=BUTTON_CHOICES, required=False, label="Kind")
            self.fields[f"button_{i}_text"] = forms.CharField(required=False, max_length=MAX_BUTTON_TEXT, label="Text")
            self.fields[f"button_{i}_value"] = forms.CharField(required=False, max_length=2000, label="URL, number or code")
            self.fields[f"button_{i}_example"] = forms.CharField(required=False, max_length=2000, label="Example URL")
        for i in range(CARD_BUTTON_ROWS):
            self.fields[f"card_button_{i}_type"] = forms.ChoiceField(choices=CARD_BUTTON_CHOICES, required=False, label="Kind")
            self.fields[f"card_button_{i}_text"] = forms.CharField(required=False, max_length=MAX_BUTTON_TEXT, label="Text")
            self.fields[f"card_button_{i}_value"] = forms.CharField(required=False, max_length=2000, label="URL")
            self.fields[f"card_button_{i}_example"] = forms.CharField(required=False, max_length=2000, label="Example URL")
        for prefix, rows, name in (("button", BUTTON_ROWS, "Button"), ("card_button", CARD_BUTTON_ROWS, "Card button")):
            for i in range(rows):
                for part in ("type", "text", "value", "example"):  # the table's cells have no label of their own
                    field = self.fields[f"{prefix}_{i}_{part}"]
                    field.widget.attrs["aria-label"] = f"{name} {i + 1}: {str(field.label).lower()}"

    def field_groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The form's sections above the buttons, as the page shows them."""
        return [
            ("Name, language and category", [self[name] for name in ("name", "language", "category", "parameter_format")]),
            ("Message", [self[name] for name in ("header_format", "header_text", "header_example", "header_example_file", "offer_text",
                                                 "offer_expires", "body_text", "body_examples", "footer_text")]),
            ("Authentication code", [self["security_recommendation"], self["code_expiration_minutes"]]),
        ]

    def button_rows(self, prefix: str = "button", rows: int = BUTTON_ROWS) -> list[list[forms.BoundField]]:
        return [[self[f"{prefix}_{i}_{part}"] for part in ("type", "text", "value", "example")] for i in range(rows)]

    def card_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("card_count", "card_header_format", "card_header_example", "card_header_example_file", "card_bodies", "card_body_examples")]

    def card_button_rows(self) -> list[list[forms.BoundField]]:
        return self.button_rows("card_button", CARD_BUTTON_ROWS)

    # --- building Meta's body -----------------------------------------------------------------

    def _header(self, data: dict[str, Any], named: bool) -> dict | None:
        kind = data.get("header_format") or ""
        if not kind:
            return None
        example = (data.get("header_example") or "").strip() or (UPLOAD_PENDING if data.get("header_example_file") else "")
        if kind != "TEXT":
            return {"type": "HEADER", "format": kind, "example": {"header_handle": [example] if example else []}}
        header: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": data.get("header_text") or ""}
        names = text_placeholders(header["text"])
        if names:
            header["example"] = (
                {"header_text_named_params": [{"param_name": names[0], "example": example}]} if named else {"header_text": [example]}
            )
        return header

    def _offer(self, data: dict[str, Any]) -> dict | None:
        text = (data.get("offer_text") or "").strip()
        if not text:
            return None
        return {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": text, "has_expiration": bool(data.get("offer_expires"))}}

    def _body(self, data: dict[str, Any], named: bool) -> dict:
        body: dict[str, Any] = {"type": "BODY", "text": data.get("body_text") or ""}
        names = text_placeholders(body["text"])
        examples = _lines(data.get("body_examples") or "")
        if names:
            if named:
                body["example"] = {"body_text_named_params": [
                    {"param_name": name, "example": examples[i] if i < len(examples) else ""} for i, name in enumerate(names)
                ]}  # fmt: skip
            else:
                body["example"] = {"body_text": [examples]}
        return body

    def _buttons(self, data: dict[str, Any], prefix: str = "button", rows: int = BUTTON_ROWS) -> list[dict]:
        buttons: list[dict] = []
        for i in range(rows):
            kind = data.get(f"{prefix}_{i}_type") or ""
            text, value = data.get(f"{prefix}_{i}_text") or "", (data.get(f"{prefix}_{i}_value") or "").strip()
            if kind == "QUICK_REPLY":
                buttons.append({"type": kind, "text": text})
            elif kind == "URL":
                button: dict[str, Any] = {"type": kind, "text": text, "url": value}
                if text_placeholders(value):
                    button["example"] = [(data.get(f"{prefix}_{i}_example") or "").strip()]
                buttons.append(button)
            elif kind == "PHONE_NUMBER":
                buttons.append({"type": kind, "text": text, "phone_number": value})
            elif kind == "COPY_CODE":
                buttons.append({"type": kind, "example": value})
        return buttons

    def _authentication_components(self, data: dict[str, Any]) -> list[dict]:
        # Meta's copy-code authentication template: preset body and footer, one OTP button.
        components: list[dict] = [{"type": "BODY", "add_security_recommendation": bool(data.get("security_recommendation"))}]
        if data.get("code_expiration_minutes"):
            components.append({"type": "FOOTER", "code_expiration_minutes": data["code_expiration_minutes"]})
        components.append({"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]})
        return components

    def _components(self, data: dict[str, Any], named: bool) -> list[dict]:
        if data.get("category") == MessageTemplate.Category.AUTHENTICATION:
            return self._authentication_components(data)
        components = [c for c in (self._header(data, named), self._offer(data), self._body(data, named)) if c]
        if (data.get("footer_text") or "").strip():
            components.append({"type": "FOOTER", "text": data["footer_text"]})
        buttons = self._buttons(data)
        if buttons:
            components.append({"type": "BUTTONS", "buttons": buttons})
        if data.get("card_count"):
            components.append({"type": "CAROUSEL", "cards": self._cards(data, named)})
        return components

    def _cards(self, data: dict[str, Any], named: bool) -> list[dict]:
        """Cards alike but for their texts (Meta wants the same components on every card)."""
        handle = (data.get("card_header_example") or "").strip() or (UPLOAD_PENDING if data.get("card_header_example_file") else "")
        texts = _lines(data.get("card_bodies") or "")
        examples = [[value.strip() for value in line.split("|")] for line in _lines(data.get("card_body_examples") or "")]
        buttons = self._buttons(data, "card_button", CARD_BUTTON_ROWS)
        cards = []
        for index in range(data["card_count"]):
            parts: list[dict] = [{"type": "HEADER", "format": data.get("card_header_format") or "IMAGE",
                                  "example": {"header_handle": [handle] if handle else []}}]  # fmt: skip
            if index < len(texts):
                body_data = {"body_text": texts[index], "body_examples": "\n".join(examples[index] if index < len(examples) else [])}
                parts.append(self._body(body_data, named))
            if buttons:
                parts.append({"type": "BUTTONS", "buttons": buttons})
            cards.append({"components": parts})
        return cards

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.example_files: dict[str, ExampleFile] = {}
        for name, format_field, where in (("header_example_file", "header_format", "header"), ("card_header_example_file", "card_header_format", "card_header")):
            upload = data.get(name)
            if upload is None:
                continue
            header_format = data.get(format_field) or ("IMAGE" if where == "card_header" else "")
            problem = example_file_problem(header_format, upload.content_type or "", upload.size or 0)
            if problem:
                self.add_error(name, problem)
            else:
                self.example_files[where] = ExampleFile(name=upload.name or "sample", content_type=upload.content_type, data=upload.read())
        if self.errors:
            return data
        named = data.get("parameter_format") == "NAMED"
        raw = (data.get("components_json") or "").strip()
        if raw:
            try:
                components = json.loads(raw)
            except ValueError as exc:
                raise forms.ValidationError(f"Advanced JSON: not valid JSON ({exc}).") from None
        else:
            components = self._components(data, named)
        self.definition = {
            "name": data["name"], "language": data["language"], "category": data["category"],
            "parameter_format": data["parameter_format"], "components": components,
        }  # fmt: skip
        problems = definition_problems(self.definition)
        if problems:
            raise forms.ValidationError([forms.ValidationError(problem) for problem in problems])
        return data
