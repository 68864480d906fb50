"""Meta's Cloud API error codes as the sandbox answers them: title, HTTP status and a typical detail.

Titles and HTTP statuses follow Meta's error code table
(https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/), where the
title has no field of its own in an API answer: it is part of ``message`` ("(#131026) Message Undeliverable").
Webhook error objects (a ``failed`` status's ``errors[]``, or out of band in ``entry.changes.value.errors``)
carry ``code``, ``title``, ``message`` and ``error_data.details``. Since v16 there is no ``error_subcode``.

HTTP statuses cross-checked with provider copies of the table (botbee.io, 360dialog, chakrahq: 3 -> 500,
130497 -> 403, 131057 -> 500, 132001 -> 404). 131063, 131064 and 132008 are missing from those
copies: their titles are ours, written from the shared Cloud API notes, and their HTTP status (400) is an
assumption.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetaError:
    title: str
    http_status: int
    details: str


CATALOG: dict[int, MetaError] = {
    0: MetaError("AuthException", 401, "We were unable to authenticate the app user."),
    1: MetaError("API Unknown", 400, "Invalid request or possible server error."),
    2: MetaError("API Service", 503, "Temporary due to downtime or due to being overloaded."),
    3: MetaError("API Method", 500, "Capability or permissions issue."),
    4: MetaError("API Too Many Calls", 400, "The app has reached its API call rate limit."),
    10: MetaError("Permission Denied", 403, "Permission is either not granted or has been removed."),
    100: MetaError("Invalid parameter", 400, "The request included one or more unsupported or misspelled parameters."),
    190: MetaError("Access token has expired", 401, "Your access token has expired."),
    200: MetaError("API Permission", 403, "Permission is either not granted or has been removed."),
    368: MetaError(
        "Temporarily blocked for policies violations", 403,
        "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.",
    ),
    80007: MetaError("Rate limit issues", 400, "The WhatsApp Business Account has reached its rate limit."),
    130429: MetaError("Rate limit hit", 400, "Cloud API message throughput has been reached."),
    130472: MetaError("User's number is part of an experiment", 400, "Message was not sent as part of an experiment."),
    130497: MetaError(
        "Business account is restricted from messaging users in this country.", 403,
        "The WhatsApp Business Account is restricted from messaging to users in certain countries.",
    ),
    131000: MetaError("Something went wrong", 500, "Message failed to send due to an unknown error."),
    131005: MetaError("Access denied", 403, "Permission is either not granted or has been removed."),
    131008: MetaError("Required parameter is missing", 400, "The request is missing a required parameter."),
    131009: MetaError("Parameter value is not valid", 400, "One or more parameter values are invalid."),
    131016: MetaError("Service unavailable", 500, "A service is temporarily unavailable."),
    131021: MetaError("Recipient cannot be sender", 400, "Sender and recipient phone number is the same."),
    131026: MetaError(
        "Message Undeliverable", 400,
        "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; "
        "the recipient has not accepted our new Terms of Service and Privacy Policy; the recipient is using an old WhatsApp version.",
    ),
    131030: MetaError(
        "Recipient phone number not in allowed list", 400,
        "Recipient phone number not in allowed list: add recipient phone number to recipient list and try again.",
    ),
    131031: MetaError(
        "Account has been locked", 403,
        "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.",
    ),
    131037: MetaError(
        "WhatsApp provided number needs display name approval before message can be sent.", 400,
        "The 555 business phone number needs a display name approved before it can send messages.",
    ),
    131042: MetaError(
        "Business eligibility payment issue", 400,
        "Message failed to send because there were one or more errors related to your payment method.",
    ),
    131047: MetaError(
        "Re-engagement message", 400,
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131048: MetaError(
        "Spam rate limit hit", 400,
        "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
    ),
    131049: MetaError(
        "This message was not delivered to maintain healthy ecosystem engagement.", 400,
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131050: MetaError(
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        400, "The recipient has chosen to stop receiving marketing messages from your business.",
    ),
    131051: MetaError("Unsupported message type", 400, "Unsupported message type."),
    131052: MetaError("Media download error", 400, "Unable to download the media sent by the user."),
    131053: MetaError("Media upload error", 400, "Unable to upload the media used in the message."),
    131056: MetaError(
        "(Business Account, Consumer Account) pair rate limit hit", 400,
        "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
    ),
    131057: MetaError("Account in maintenance mode", 500, "Business Account is in maintenance mode."),
    131063: MetaError(
        "Marketing messages are not available on the Cloud API for this business", 400,
        "This business has turned off marketing messages on the Cloud API; send them through the Marketing Messages API.",
    ),
    131064: MetaError(
        "Marketing message limit after template classification violations", 400,
        "Marketing messages are limited because of repeated template classification violations.",
    ),
    # Marketing Messages API only (Meta's MM API support page; titles as providers quote them, see whatsapp/client.py).
    131055: MetaError("Method not allowed", 400, "Only marketing template messages are supported"),
    134100: MetaError("Template category not supported", 400, "Only templates categorized as MARKETING can be sent with the Marketing Messages API."),
    134101: MetaError("Template not yet synced", 400, "The template is still being synced for the Marketing Messages API; try again in about 10 minutes."),
    134102: MetaError("Template unavailable", 400, "The template is unavailable for the Marketing Messages API: check the account's onboarding and eligibility."),
    132000: MetaError(
        "Template Param Count Mismatch", 400,
        "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template.",
    ),
    132001: MetaError("Template does not exist", 404, "The template does not exist in the specified language or the template has not been approved."),
    132005: MetaError("Template Hydrated Text Too Long", 400, "Translated text is too long."),
    132007: MetaError("Template Format Character Policy Violated", 400, "Template content violates a WhatsApp policy."),
    # 132008 is not in the copies of Meta's table we could check: title ours, from the shared notes
    # ("template problem: pause the campaign"), HTTP status assumed.
    132008: MetaError("Template parameter problem", 400, "The template's parameters do not fit the approved template."),
    132012: MetaError("Template Parameter Format Mismatch", 400, "Variable parameter values formatted incorrectly."),
    132015: MetaError("Template is Paused", 400, "Template is paused due to low quality so it cannot be sent in a template message."),
    132016: MetaError("Template is Disabled", 400, "Template has been paused too many times due to low quality and is now permanently disabled."),
    132068: MetaError("Flow is blocked", 400, "Flow is in blocked state."),
    132069: MetaError("Flow is throttled", 400, "Flow is in throttled state and 10 messages using this flow were already sent in the last hour."),
    133000: MetaError("Incomplete Deregistration", 500, "A previous deregistration attempt failed."),
    133010: MetaError("Phone number Not Registered", 400, "Phone number not registered on the WhatsApp Business Platform."),
    135000: MetaError("Generic user error", 400, "Message failed to send because of an unknown error with your request parameters."),
}

UNKNOWN = MetaError("Message failed to send", 400, "")


def describe(code: int) -> MetaError:
    return CATALOG.get(code, UNKNOWN)


def api_error_body(code: int, *, message: str = "", details: str = "") -> dict[str, Any]:
    """The JSON body of a refused API call: ``{"error": {...}}`` as Meta's error code page shows it."""
    meta = describe(code)
    error: dict[str, Any] = {
        "message": message or f"(#{code}) {meta.title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or meta.details or meta.title},
        "fbtrace_id": "A" + uuid.uuid4().hex[:22],
    }
    return {"error": error}


def webhook_error(code: int, *, details: str = "") -> dict[str, Any]:
    """One error object as webhooks carry it (a failed status's ``errors[]``, or ``value.errors``)."""
    meta = describe(code)
    return {
        "code": code,
        "title": meta.title,
        "message": meta.title,
        "error_data": {"details": details or meta.details or meta.title},
    }
