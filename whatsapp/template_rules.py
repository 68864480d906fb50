"""Meta's rules for a new message template, checked before it is submitted (and by the sandbox).

Plain functions without Django: ``definition_problems`` takes the body of
``POST /{waba-id}/message_templates`` (``name``, ``language``, ``category``, ``parameter_format``,
``components``) and returns what Meta would refuse, in words, with the component it concerns.

Sources (checked November 2026; Meta's own pages are the reference, provider copies agree):
- Create endpoint, components and examples: Meta's "Message templates" and "Template components"
  references; request and answer (``{"id", "status", "category"}``) as mirrored by Kapso
  (https://docs.kapso.ai/api-reference/templates/create-message-template) and AWS End User Messaging
  (create_whatsapp_message_template answers metaTemplateId, templateStatus, category).
- Name: lowercase letters, digits and underscores only, at most 512 characters; body at most 1,024
  characters (https://support.wati.io/l/en/article/26656r9knf-what-are-template-formatting-rules,
  https://easysocial.io/docs/guidelines).
- Header text and footer at most 60 characters, a text header at most one variable, a footer none;
  button text at most 25 characters (https://help.businesschat.io/en/articles/6517829-template-messages,
  https://askeva.io/arabic/docs/header-and-footer.html).
- Body may not start or end with a variable (https://docs.heyy.io/quick-start/settings/whatsapp-templates;
  Meta answers this with code 100).
- Buttons: at most 10 in all, at most 2 URL buttons, 1 phone number and 1 copy-code button (coupon at most
  15 characters); a URL may end in one ``{{1}}`` suffix, with an example URL (Meta's "Template components").
- Carousel: a body and 2-10 cards; each card an image or video header, an optional body of at most 160
  characters, 1-2 buttons, and every card with the same components (Meta's "Media card carousel templates").
- Limited-time offer: marketing only, no footer, an offer text of at most 16 characters, a body of at most 600
  (Meta's "Limited-time offer templates",
  https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/marketing-templates/limited-time-offer-templates/).
- Authentication: Meta writes the text itself ("<code> is your verification code.", an optional security
  recommendation in the body, an optional expiry of 1-90 minutes in the footer); the template has one OTP
  button (copy code, one tap or zero tap) and no header, URL, media or other button (Meta's "Copy code
  button authentication templates"; https://docs.360dialog.com/docs/messaging/template-messaging/authentication-templates-with-one-time-password).
"""

from __future__ import annotations

import re
from typing import Any

from whatsapp.template_shape import PLACEHOLDER_RE, text_placeholders

NAME_RE = re.compile(r"^[a-z0-9_]+$")

# A media header's sample file, uploaded with the Resumable Upload API for its handle: the types that
# API takes (https://developers.facebook.com/docs/graph-api/guides/upload: application/pdf, image/jpeg,
# image/jpg, image/png, video/mp4), by header format, with the Cloud API's media size limits (images 5 MB,
# videos 16 MB, documents 100 MB: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media).
EXAMPLE_FILE_TYPES = {
    "IMAGE": (("image/jpeg", "image/jpg", "image/png"), 5 * 1024**2, "a JPEG or PNG image"),
    "VIDEO": (("video/mp4",), 16 * 1024**2, "an MP4 video"),
    "DOCUMENT": (("application/pdf",), 100 * 1024**2, "a PDF document"),
}
UPLOAD_FILE_TYPES = tuple(kind for types, _, _ in EXAMPLE_FILE_TYPES.values() for kind in types)


def example_file_problem(header_format: str, file_type: str, size: int) -> str | None:
    """Why a sample file cannot stand for a ``header_format`` header, in words; None when it can."""
    allowed = EXAMPLE_FILE_TYPES.get(header_format)
    if allowed is None:
        return "Choose an image, video or document header for a sample file (a text header takes none)."
    types, limit, wanted = allowed
    header = f"{'an' if header_format == 'IMAGE' else 'a'} {header_format.lower()} header"
    if file_type not in types:
        return f"The sample for {header} must be {wanted}, not {file_type or 'a file of unknown type'}."
    if size > limit:
        return f"The sample file is {size / 1024**2:.1f} MB; WhatsApp takes at most {limit // 1024**2} MB for {header}."
    if size == 0:
        return "The sample file is empty."
    return None
NAMED_PARAMETER_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# Meta's locale codes: "en", "en_US", "pt_BR", "zh_CN", "es_419"... (the template languages list).
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM")
CARD_HEADER_FORMATS = ("IMAGE", "VIDEO")

MAX_NAME = 512
MAX_BODY = 1024
MAX_HEADER_TEXT = 60
MAX_FOOTER = 60
MAX_BUTTON_TEXT = 25
MAX_URL = 2000
MAX_BUTTONS = 10
MAX_URL_BUTTONS = 2
MAX_COUPON = 15
MAX_CARD_BODY = 160
MIN_CARDS, MAX_CARDS = 2, 10
MAX_OFFER_TEXT = 16
MAX_OFFER_BODY = 600


def _kind(component: Any) -> str:
    return str(component.get("type", "")).upper() if isinstance(component, dict) else ""


def _example(component: dict) -> dict:
    example = component.get("example")
    return example if isinstance(example, dict) else {}


def _placeholders_problems(text: str, *, named: bool, where: str) -> list[str]:
    names = text_placeholders(text)
    problems: list[str] = []
    if named:
        bad = [n for n in names if not NAMED_PARAMETER_RE.match(n)]
        if bad:
            problems.append(f"{where}: named variables use lowercase letters, digits and underscores ({', '.join(bad)}).")
    else:
        if any(not n.isdigit() for n in names):
            problems.append(f"{where}: positional variables are numbers ({{{{1}}}}, {{{{2}}}}...); choose named parameters for names.")
        elif names and sorted(int(n) for n in names) != list(range(1, len(names) + 1)):
            problems.append(f"{where}: variables must be numbered {{{{1}}}} to {{{{{len(names)}}}}} without gaps.")
    return problems


def _examples_problems(component: dict, names: list[str], *, named: bool, where: str, positional_key: str, named_key: str) -> list[str]:
    """A text with variables needs one example per variable, positional or named as declared."""
    if not names:
        return []
    example = _example(component)
    if named:
        given = example.get(named_key)
        found = {str(e.get("param_name")): e.get("example") for e in given if isinstance(e, dict)} if isinstance(given, list) else {}
        missing = [n for n in names if not str(found.get(n) or "").strip()]
        return [f"{where}: an example value is needed for {', '.join('{{' + n + '}}' for n in missing)}."] if missing else []
    given = example.get(positional_key)
    row = given[0] if isinstance(given, list) and given and isinstance(given[0], list) else given
    if positional_key == "header_text" and isinstance(given, list) and given and isinstance(given[0], str):
        row = given
    values = [str(v).strip() for v in row] if isinstance(row, list) else []
    if len(values) != len(names) or not all(values):
        return [f"{where}: give one example value for each of its {len(names)} variable(s)."]
    return []


def _header_problems(header: dict, *, named: bool, where: str = "Header") -> list[str]:
    kind = str(header.get("format", "")).upper()
    if kind not in HEADER_FORMATS:
        return [f"{where}: format must be one of {', '.join(HEADER_FORMATS)}."]
    if kind == "TEXT":
        text = str(header.get("text") or "")
        problems = [] if text.strip() else [f"{where}: a text header needs its text."]
        if len(text) > MAX_HEADER_TEXT:
            problems.append(f"{where}: at most {MAX_HEADER_TEXT} characters (this one has {len(text)}).")
        names = text_placeholders(text)
        if len(names) > 1:
            problems.append(f"{where}: a text header may have one variable at most.")
        problems += _placeholders_problems(text, named=named, where=where)
        problems += _examples_problems(header, names, named=named, where=where, positional_key="header_text", named_key="header_text_named_params")
        return problems
    if kind == "LOCATION":
        return []
    example = _example(header)
    handles = example.get("header_handle")
    if not isinstance(handles, list) or not handles or not all(str(h).strip() for h in handles):
        return [f"{where}: an {kind.lower()} header needs an example (a media handle from Meta's upload API) in example.header_handle."]
    return []


def _body_problems(body: dict, *, named: bool, where: str = "Body", limit: int = MAX_BODY) -> list[str]:
    text = str(body.get("text") or "")
    if not text.strip():
        return [f"{where}: the text is required."]
    problems: list[str] = []
    if len(text) > limit:
        problems.append(f"{where}: at most {limit} characters (this one has {len(text)}).")
    stripped = text.strip()
    if PLACEHOLDER_RE.match(stripped) or re.search(r"\{\{\s*[A-Za-z0-9_]+\s*\}\}$", stripped):
        problems.append(f"{where}: may not start or end with a variable; put words before and after it.")
    problems += _placeholders_problems(text, named=named, where=where)
    problems += _examples_problems(body, text_placeholders(text), named=named, where=where, positional_key="body_text", named_key="body_text_named_params")
    return problems


def _button_problems(button: Any, where: str) -> list[str]:
    if not isinstance(button, dict):
        return [f"{where}: expected an object."]
    kind = str(button.get("type", "")).upper()
    if kind not in BUTTON_TYPES:
        return [f"{where}: type must be one of {', '.join(BUTTON_TYPES)}."]
    problems: list[str] = []
    text = str(button.get("text") or "")
    if kind in ("QUICK_REPLY", "URL", "PHONE_NUMBER"):
        if not text.strip():
            problems.append(f"{where}: the button needs its text.")
        elif len(text) > MAX_BUTTON_TEXT:
            problems.append(f"{where}: button text at most {MAX_BUTTON_TEXT} characters (\"{text}\" has {len(text)}).")
    if kind == "URL":
        url = str(button.get("url") or "")
        names = PLACEHOLDER_RE.findall(url)
        if not re.match(r"^https?://[^\s/]+", url):
            problems.append(f"{where}: the URL must start with https:// and name a site.")
        elif len(url) > MAX_URL:
            problems.append(f"{where}: the URL is at most {MAX_URL} characters.")
        if names and (names != ["1"] or not PLACEHOLDER_RE.search(url[-8:])):
            problems.append(f"{where}: a URL may only end in one {{{{1}}}} variable (its dynamic suffix).")
        examples = button.get("example")
        example = examples[0] if isinstance(examples, list) and examples else examples
        if names and not str(example or "").startswith("http"):
            problems.append(f"{where}: a URL with a {{{{1}}}} suffix needs an example: the full URL with a sample suffix.")
    if kind == "PHONE_NUMBER" and not re.match(r"^\+?\d{6,20}$", str(button.get("phone_number") or "")):
        problems.append(f"{where}: the phone number must be digits in international form, e.g. +15550001111.")
    if kind == "COPY_CODE":
        example = str(button.get("example") or "")
        if not example.strip() or len(example) > MAX_COUPON:
            problems.append(f"{where}: a copy-code button needs an example code of at most {MAX_COUPON} characters.")
    return problems


def _buttons_problems(component: dict, where: str = "Buttons") -> list[str]:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        return [f"{where}: add at least one button, or leave the buttons out."]
    if len(buttons) > MAX_BUTTONS:
        return [f"{where}: at most {MAX_BUTTONS} buttons."]
    problems: list[str] = []
    for index, button in enumerate(buttons):
        problems += _button_problems(button, f"{where}, button {index + 1}")
    kinds = [str(b.get("type", "")).upper() for b in buttons if isinstance(b, dict)]
    if kinds.count("URL") > MAX_URL_BUTTONS:
        problems.append(f"{where}: at most {MAX_URL_BUTTONS} URL buttons.")
    for single in ("PHONE_NUMBER", "COPY_CODE"):
        if kinds.count(single) > 1:
            problems.append(f"{where}: at most one {single.lower().replace('_', ' ')} button.")
    return problems


def _carousel_problems(component: dict, *, named: bool) -> list[str]:
    cards = component.get("cards")
    if not isinstance(cards, list) or not MIN_CARDS <= len(cards) <= MAX_CARDS:
        return [f"Carousel: {MIN_CARDS} to {MAX_CARDS} cards."]
    problems: list[str] = []
    shapes = []
    for number, card in enumerate(cards, start=1):
        where = f"Card {number}"
        parts = card.get("components") if isinstance(card, dict) else None
        if not isinstance(parts, list):
            problems.append(f"{where}: expected its components.")
            continue
        by_kind = {_kind(p): p for p in parts}
        header, body, buttons = by_kind.get("HEADER"), by_kind.get("BODY"), by_kind.get("BUTTONS")
        if header is None or str(header.get("format", "")).upper() not in CARD_HEADER_FORMATS:
            problems.append(f"{where}: needs an image or video header.")
        else:
            problems += _header_problems(header, named=named, where=f"{where} header")
        if body is not None:
            problems += _body_problems(body, named=named, where=f"{where} body", limit=MAX_CARD_BODY)
        if buttons is None:
            problems.append(f"{where}: needs one or two buttons.")
        else:
            count = len(buttons.get("buttons") or [])
            problems += ([f"{where}: one or two buttons."] if not 1 <= count <= 2 else _buttons_problems(buttons, f"{where} buttons"))
        shapes.append((
            str((header or {}).get("format", "")).upper(), body is not None,
            tuple(str(b.get("type", "")).upper() for b in (buttons or {}).get("buttons") or [] if isinstance(b, dict)),
        ))  # fmt: skip
    if len(set(shapes)) > 1:
        problems.append("Carousel: every card needs the same components (header kind, body, button kinds in the same order).")
    return problems


OTP_TYPES = ("COPY_CODE", "ONE_TAP", "ZERO_TAP")
MAX_CODE_EXPIRATION = 90


def _authentication_problems(components: list[dict]) -> list[str]:
    kinds = [_kind(c) for c in components]
    problems: list[str] = []
    if set(kinds) - {"BODY", "FOOTER", "BUTTONS"}:
        problems.append("Authentication: only a body, a footer and the code button (no header, media or carousel).")
    for component in components:
        kind = _kind(component)
        if kind in ("BODY", "FOOTER") and component.get("text"):
            problems.append(f"Authentication {kind.lower()}: WhatsApp writes the text itself; leave it out.")
        expiry = component.get("code_expiration_minutes") if kind == "FOOTER" else None
        if expiry is not None and (not isinstance(expiry, int) or not 1 <= expiry <= MAX_CODE_EXPIRATION):
            problems.append(f"Authentication footer: the code expires after 1 to {MAX_CODE_EXPIRATION} minutes.")
    buttons = next((c.get("buttons") for c in components if _kind(c) == "BUTTONS"), None)
    otp = [b for b in buttons or [] if isinstance(b, dict) and str(b.get("type", "")).upper() == "OTP"]
    if len(otp) != 1 or len(buttons or []) != 1:
        problems.append("Authentication: exactly one one-time-password button (copy code, one tap or zero tap).")
    elif str(otp[0].get("otp_type", "")).upper() not in OTP_TYPES:
        problems.append(f"Authentication button: otp_type must be one of {', '.join(t.lower() for t in OTP_TYPES)}.")
    if "BODY" not in kinds:
        problems.append("Authentication: the body is required (with or without the security recommendation).")
    return problems


def definition_problems(definition: Any) -> list[str]:
    """What Meta would refuse in a template definition (empty: it may be submitted)."""
    if not isinstance(definition, dict):
        return ["The template must be a JSON object with name, language, category and components."]
    problems: list[str] = []
    name = str(definition.get("name") or "")
    if not name:
        problems.append("Name: required.")
    elif len(name) > MAX_NAME:
        problems.append(f"Name: at most {MAX_NAME} characters.")
    elif not NAME_RE.match(name):
        problems.append("Name: only lowercase letters, digits and underscores (e.g. summer_sale_2026).")
    if not LANGUAGE_RE.match(str(definition.get("language") or "")):
        problems.append("Language: a locale code such as en, en_US or pt_BR.")
    if str(definition.get("category") or "").upper() not in CATEGORIES:
        problems.append(f"Category: one of {', '.join(c.lower() for c in CATEGORIES)}.")
    parameter_format = str(definition.get("parameter_format") or "POSITIONAL").upper()
    if parameter_format not in PARAMETER_FORMATS:
        problems.append("Parameter format: POSITIONAL or NAMED.")
    named = parameter_format == "NAMED"
    components = definition.get("components")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return [*problems, "Components: expected a list of objects (header, body, footer, buttons, carousel)."]
    kinds = [_kind(c) for c in components]
    if str(definition.get("category") or "").upper() == "AUTHENTICATION":
        return problems + _authentication_problems(components)
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            problems.append(f"Components: only one {kind.lower()}.")
    unknown = sorted(set(kinds) - {"HEADER", "BODY", "FOOTER", "BUTTONS", "CAROUSEL", "LIMITED_TIME_OFFER"})
    if unknown:
        problems.append(f"Components: unknown type(s) {', '.join(unknown)}.")
    if "BODY" not in kinds:
        problems.append("Body: the text is required.")
    if "CAROUSEL" in kinds and ({"HEADER", "FOOTER", "BUTTONS"} & set(kinds)):
        problems.append("Carousel: a carousel template has a body and cards only (no header, footer or buttons of its own).")
    for component in components:
        kind = _kind(component)
        if kind == "HEADER":
            problems += _header_problems(component, named=named)
        elif kind == "BODY":
            problems += _body_problems(component, named=named)
        elif kind == "FOOTER":
            text = str(component.get("text") or "")
            if not text.strip() or len(text) > MAX_FOOTER:
                problems.append(f"Footer: 1 to {MAX_FOOTER} characters.")
            if PLACEHOLDER_RE.search(text):
                problems.append("Footer: may not contain variables.")
        elif kind == "BUTTONS":
            problems += _buttons_problems(component)
        elif kind == "CAROUSEL":
            problems += _carousel_problems(component, named=named)
        elif kind == "LIMITED_TIME_OFFER":
            problems += _offer_problems(definition, component, kinds)
    return problems


def _offer_problems(definition: dict, component: dict, kinds: list[str]) -> list[str]:
    offer = component.get("limited_time_offer")
    offer = offer if isinstance(offer, dict) else {}
    text = str(offer.get("text") or "")
    problems = [] if 0 < len(text) <= MAX_OFFER_TEXT else [f"Limited-time offer: a text of 1 to {MAX_OFFER_TEXT} characters."]
    if str(definition.get("category") or "").upper() != "MARKETING":
        problems.append("Limited-time offer: marketing templates only.")
    if "FOOTER" in kinds:
        problems.append("Limited-time offer: a template with an offer has no footer.")
    body: dict = next((c for c in definition["components"] if _kind(c) == "BODY"), {})
    if len(str(body.get("text") or "")) > MAX_OFFER_BODY:
        problems.append(f"Limited-time offer: the body is at most {MAX_OFFER_BODY} characters.")
    return problems
