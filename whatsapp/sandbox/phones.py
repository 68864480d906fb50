"""The sandbox's phones: what each number "received", drawn as a chat, as plain server-side HTML.

``/_sandbox/phones`` lists every phone the app wrote to (or that wrote to the app);
``/_sandbox/phones/<number>`` shows that phone's chat: our messages as the template components define
them (header, body with its parameters filled in, footer, buttons), the person's own messages, and
forms to press a quick-reply button, send STOP or write a text. Those go back to the app as signed
``messages`` webhooks, exactly like the ones ``/_sandbox/inbound`` makes. No script: forms and links
only; everything shown is escaped (it is user content).
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from whatsapp.template_shape import PLACEHOLDER_RE

# The page runs no script, loads nothing and posts only to itself.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SAFE_LINK = re.compile(r"^https?://", re.IGNORECASE)


@dataclass
class Bubble:
    """One message in a phone's chat, ready to draw."""

    at: float
    outgoing: bool  # from the business to the phone
    wamid: str = ""
    header: str = ""
    body: str = ""
    footer: str = ""
    buttons: list[dict[str, str]] = field(default_factory=list)  # {"type", "text", "url"?, "payload"?}
    note: str = ""  # e.g. "failed: 131026", "pressed a button"


def _parameter_text(parameter: dict) -> str:
    """A send parameter as the phone shows it (Meta's parameter object: text, currency, date_time, media...)."""
    kind = parameter.get("type")
    if kind == "text":
        return str(parameter.get("text", ""))
    if kind in ("currency", "date_time"):
        return str((parameter.get(kind) or {}).get("fallback_value", ""))
    return f"[{kind}]"


def _filled(text: str, parameters: list[dict]) -> str:
    """``text`` with its ``{{1}}`` / ``{{name}}`` placeholders replaced by the send's parameters."""
    positional = [_parameter_text(p) for p in parameters]
    named = {str(p.get("parameter_name")): _parameter_text(p) for p in parameters if p.get("parameter_name")}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in named:
            return named[name]
        if name.isdigit() and 0 < int(name) <= len(positional):
            return positional[int(name) - 1]
        return match.group(0)

    return PLACEHOLDER_RE.sub(value, text or "")


def template_bubble(send: dict, templates: list[dict]) -> Bubble:
    """A template send drawn with the stored template's components and the send's parameters."""
    name, language = send["template"]["name"], send["template"]["language"]
    stored = next((t for t in templates if t["name"] == name and t["language"] == language), None)
    bubble = Bubble(at=send["accepted_at"], outgoing=True, wamid=send["wamid"])
    if stored is None:
        bubble.body = f"(template {name} / {language})"
        return bubble
    given: dict[str, dict] = {}
    for component in send.get("components") or []:
        kind = str(component.get("type", "")).lower()
        key = f"button:{component.get('index')}" if kind == "button" else kind
        given[key] = component
    for component in stored["components"]:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            parameters = given.get("header", {}).get("parameters", [])
            bubble.header = _filled(component.get("text", ""), parameters) if header_format == "TEXT" else f"[{header_format.lower()}]"
        elif kind == "BODY":
            bubble.body = _filled(component.get("text", ""), given.get("body", {}).get("parameters", []))
        elif kind == "FOOTER":
            bubble.footer = component.get("text", "")
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons", [])):
                bubble.buttons.append(_button(button, given.get(f"button:{index}", {}).get("parameters", [])))
    return bubble


def _button(button: dict, parameters: list[dict]) -> dict[str, str]:
    kind = str(button.get("type", "")).upper()
    text = str(button.get("text", ""))
    if kind == "URL":
        return {"type": "url", "text": text, "url": _filled(str(button.get("url", "")), parameters)}
    if kind == "QUICK_REPLY":
        # The payload the business set in the send, else the button's text.
        # (Meta's button parameter object: {"type": "payload", "payload": ...}, returned when the button is tapped:
        # https://whatsapp.github.io/WhatsApp-Nodejs-SDK/api-reference/types/button_parameter_object)
        payload = next((str(p.get("payload")) for p in parameters if p.get("type") == "payload"), text)
        return {"type": "quick_reply", "text": text, "payload": payload}
    return {"type": kind.lower(), "text": text}


def chat_bubbles(sends: list[dict], inbound: list[dict], templates: list[dict]) -> list[Bubble]:
    """One phone's chat in time order: its sends (template or text) and its own messages."""
    bubbles = []
    for send in sends:
        if send["type"] == "template" and send.get("template"):
            bubble = template_bubble(send, templates)
        else:
            bubble = Bubble(at=send["accepted_at"], outgoing=True, wamid=send["wamid"], body=str(send.get("text") or ""))
        if send["outcome"] != "accepted":
            bubble.note = f"not delivered ({send['outcome'].replace(':', ' ')})"
        bubbles.append(bubble)
    for message in inbound:
        note = "pressed a button" if message["type"] == "button" else ""
        bubbles.append(Bubble(at=message["at"], outgoing=False, wamid=message["id"], body=message["text"], note=note))
    return sorted(bubbles, key=lambda bubble: bubble.at)


# --- HTML ----------------------------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,sans-serif;background:#f0f2f5;color:#111}
header{background:#075e54;color:#fff;padding:12px 16px}header a{color:#fff}h1{font-size:1.2rem;margin:0}
main{max-width:640px;margin:0 auto;padding:12px}.chat{background:#e5ddd5;border-radius:8px;padding:12px;
display:flex;flex-direction:column;gap:8px}.msg{max-width:85%;border-radius:8px;padding:8px 10px;
box-shadow:0 1px 1px rgba(0,0,0,.15);overflow-wrap:anywhere}.in{background:#fff;align-self:flex-start}
.out{background:#dcf8c6;align-self:flex-end}.h{font-weight:700;margin-bottom:4px}.b{white-space:pre-wrap}
.f{color:#667;font-size:.85rem;margin-top:4px}.t{color:#667;font-size:.75rem;text-align:right}
.note{color:#a11;font-size:.85rem}.btns{display:flex;flex-direction:column;gap:4px;margin-top:6px}
.btns form{margin:0}.btns button,.btns a{display:block;width:100%;background:#fff;color:#027eb5;border:1px solid #cfd8dc;
border-radius:6px;padding:8px;text-align:center;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
.compose{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px}.compose input[type=text]{flex:1 1 200px;padding:8px;font:inherit}
.compose button{padding:8px 14px;font:inherit}.stop{background:#a11;color:#fff;border:0;border-radius:6px}
.error{background:#fde2e2;color:#a11;padding:8px;border-radius:6px}ul.phones{padding:0;list-style:none}
ul.phones li{background:#fff;margin:6px 0;padding:10px;border-radius:6px}.empty{color:#667}
"""


def _page(title: str, content: str) -> str:
    e = html.escape
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · WhatsApp sandbox</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>{e(title)}</h1><a href="/_sandbox/phones">All phones</a></header><main>{content}</main></body></html>'
    )


def phone_path(key: str) -> str:
    return "/_sandbox/phones/" + quote(key, safe="")


def phones_index_html(phones: list[tuple[str, int, str]]) -> str:
    """``phones``: (key, message count, last message's text), newest chat first."""
    e = html.escape
    if not phones:
        items = '<p class="empty">No phone has received anything yet. Send a test from the campaign builder.</p>'
    else:
        rows = "".join(
            f'<li><a href="{e(phone_path(key))}">{e(_shown_key(key))}</a> · {count} message{"s" if count != 1 else ""}'
            f'<div class="f">{e(last[:120])}</div></li>'
            for key, count, last in phones
        )
        items = f'<ul class="phones">{rows}</ul>'
    return _page("Sandbox phones", f"<p>What each phone received from the app (the sandbox stands in for WhatsApp).</p>{items}")


def _shown_key(key: str) -> str:
    return f"+{key}" if key.isdigit() else key


def _bubble_html(bubble: Bubble, key: str) -> str:
    e = html.escape
    parts = []
    if bubble.header:
        parts.append(f'<div class="h">{e(bubble.header)}</div>')
    parts.append(f'<div class="b">{e(bubble.body)}</div>')
    if bubble.footer:
        parts.append(f'<div class="f">{e(bubble.footer)}</div>')
    if bubble.buttons:
        buttons = []
        for button in bubble.buttons:
            if button["type"] == "quick_reply":
                buttons.append(
                    f'<form method="post" action="{e(phone_path(key))}/reply">'
                    f'<input type="hidden" name="context" value="{e(bubble.wamid)}">'
                    f'<input type="hidden" name="button" value="{e(button["text"])}">'
                    f'<input type="hidden" name="payload" value="{e(button["payload"])}">'
                    f"<button type=\"submit\">{e(button['text'])}</button></form>"
                )
            elif button.get("url") and _SAFE_LINK.match(button["url"]):
                buttons.append(f'<a href="{e(button["url"])}" rel="noreferrer noopener" target="_blank">{e(button["text"])}</a>')
            else:
                buttons.append(f'<a aria-disabled="true">{e(button["text"])}</a>')
        parts.append(f'<div class="btns">{"".join(buttons)}</div>')
    if bubble.note:
        parts.append(f'<div class="note">{e(bubble.note)}</div>')
    parts.append(f'<div class="t">{e(time.strftime("%H:%M:%S", time.localtime(bubble.at)))}</div>')
    side = "in" if bubble.outgoing else "out"  # as on the phone: the business's messages come in
    who = "From the business" if bubble.outgoing else "From this phone"
    return f'<article class="msg {side}" aria-label="{who}">{"".join(parts)}</article>'


def phone_html(key: str, bubbles: list[Bubble], *, error: str = "") -> str:
    e = html.escape
    chat = "".join(_bubble_html(bubble, key) for bubble in bubbles) or '<p class="empty">Nothing received yet.</p>'
    action = e(phone_path(key)) + "/reply"
    compose = (
        f'<form class="compose" method="post" action="{action}">'
        '<input type="text" name="text" aria-label="Message" placeholder="Write a message as this person" maxlength="4096" required>'
        '<button type="submit">Send</button></form>'
        f'<form class="compose" method="post" action="{action}">'
        '<input type="hidden" name="text" value="STOP"><button type="submit" class="stop">Send STOP</button></form>'
    )
    notice = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    refresh = f'<p><a href="{e(phone_path(key))}">Refresh</a> to see new messages.</p>'
    return _page(f"Phone {_shown_key(key)}", f'{notice}<section class="chat" aria-label="Chat">{chat}</section>{compose}{refresh}')


def reply_spec(form: Any) -> dict[str, Any]:
    """The person's message from a phone page form: a quick-reply press or a text; ValueError if neither."""
    button = str(form.get("button", "")).strip()
    if button:
        spec: dict[str, Any] = {"button": button, "payload": str(form.get("payload", "")) or button}
        context = str(form.get("context", "")).strip()
        if context:
            spec["context_id"] = context
        return spec
    text = str(form.get("text", "")).strip()
    if not text:
        raise ValueError("Write a message first.")
    if len(text) > 4096:
        raise ValueError("A message is at most 4096 characters.")
    return {"text": text}
