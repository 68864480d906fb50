"""Reading a template's components as Meta lists them: placeholders and the dynamic URL button.

Plain functions without Django, shared by the template sync and the sandbox's request validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _component(components: list[dict], kind: str) -> dict | None:
    for component in components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def text_placeholders(text: str) -> list[str]:
    """Placeholder names in order of first appearance: ``["1", "2"]`` or ``["first_name"]``."""
    names: list[str] = []
    for name in PLACEHOLDER_RE.findall(text or ""):
        if name not in names:
            names.append(name)
    return names


def body_parameter_names(components: list[dict]) -> list[str]:
    body = _component(components, "BODY")
    return text_placeholders(body.get("text", "")) if body else []


def header_parameter_names(components: list[dict]) -> list[str]:
    header = _component(components, "HEADER")
    if not header or str(header.get("format", "TEXT")).upper() != "TEXT":
        return []
    return text_placeholders(header.get("text", ""))


def parameter_format(template: dict) -> str:
    """Meta's ``parameter_format`` when given, else inferred: all-digit placeholders are positional."""
    declared = str(template.get("parameter_format") or "").upper()
    if declared in ("POSITIONAL", "NAMED"):
        return declared
    names = body_parameter_names(template.get("components") or [])
    return "NAMED" if any(not name.isdigit() for name in names) else "POSITIONAL"


def buttons(components: list[dict]) -> list[dict]:
    component = _component(components, "BUTTONS")
    return [b for b in (component or {}).get("buttons", []) if isinstance(b, dict)]


@dataclass(frozen=True)
class UrlButton:
    index: int
    base_url: str  # the URL without its {{1}} suffix placeholder


def dynamic_url_button(components: list[dict]) -> UrlButton | None:
    """The URL button whose URL ends in a ``{{1}}`` suffix, if the template has one."""
    for index, button in enumerate(buttons(components)):
        url = str(button.get("url", ""))
        if str(button.get("type", "")).upper() == "URL" and PLACEHOLDER_RE.search(url):
            return UrlButton(index=index, base_url=PLACEHOLDER_RE.sub("", url))
    return None


def quick_reply_indexes(components: list[dict]) -> list[int]:
    return [i for i, b in enumerate(buttons(components)) if str(b.get("type", "")).upper() == "QUICK_REPLY"]


MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")


def header_format(components: list[dict]) -> str:
    """``TEXT``, ``IMAGE``, ``VIDEO``, ``DOCUMENT`` or ``LOCATION``; empty when the template has no header."""
    header = _component(components, "HEADER")
    return str(header.get("format", "TEXT")).upper() if header else ""


def header_text(components: list[dict]) -> str:
    header = _component(components, "HEADER")
    return str(header.get("text", "")) if header and header_format(components) == "TEXT" else ""


def component_text(components: list[dict], kind: str) -> str:
    component = _component(components, kind)
    return str(component.get("text", "")) if component else ""


def copy_code_index(components: list[dict]) -> int | None:
    for index, button in enumerate(buttons(components)):
        if str(button.get("type", "")).upper() == "COPY_CODE":
            return index
    return None


def limited_time_offer(components: list[dict]) -> dict | None:
    """The template's ``limited_time_offer`` settings (``text``, ``has_expiration``), if it is an LTO template."""
    component = _component(components, "LIMITED_TIME_OFFER")
    if component is None:
        return None
    return dict(component.get("limited_time_offer") or {})


def carousel_cards(components: list[dict]) -> list[list[dict]]:
    """Each carousel card's own components (header, body, buttons); empty for other templates."""
    component = _component(components, "CAROUSEL")
    cards = (component or {}).get("cards", [])
    return [list(card.get("components", [])) for card in cards if isinstance(card, dict)]
