"""The sandbox's message templates, in the shape Meta's template list returns them."""

from __future__ import annotations

import copy

STOP_PROMOTIONS = "Stop promotions"

DEFAULT_TEMPLATES: list[dict] = [
    {
        "id": "900000000000001",
        "name": "spring_sale",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Spring sale"},
            {
                "type": "BODY",
                "text": "Hi {{1}}, our spring sale is on: {{2}} off everything until Sunday.",
                "example": {"body_text": [["Ana", "20%"]]},
            },
            {"type": "FOOTER", "text": "Reply STOP to unsubscribe"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Shop now", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok123"]},
                    {"type": "QUICK_REPLY", "text": STOP_PROMOTIONS},
                ],
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        "id": "900000000000002",
        "name": "spring_sale",
        "language": "de",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Hallo {{1}}, unser Frühjahrsverkauf läuft: {{2}} auf alles bis Sonntag.",
                "example": {"body_text": [["Ana", "20 %"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Jetzt einkaufen", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok123"]},
                    {"type": "QUICK_REPLY", "text": "Werbung stoppen"},
                ],
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        "id": "900000000000003",
        "name": "restock_alert",
        "language": "en_US",
        "status": "PAUSED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Good news {{1}}: {{2}} is back in stock.", "example": {"body_text": [["Ana", "Trail runner"]]}},
        ],
        "quality_score": {"score": "RED"},
        "rejected_reason": "NONE",
    },
    {
        "id": "900000000000004",
        "name": "order_shipped",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "Your order {{1}} has shipped.", "example": {"body_text": [["A-1001"]]}},
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        "id": "900000000000005",
        "name": "optin_confirmation",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "components": [
            {
                "type": "BODY",
                "text": "Please confirm that {{1}} may send you {{2}} on WhatsApp. Tap Confirm or reply YES.",
                "example": {"body_text": [["Acme Shoes", "offers and news"]]},
            },
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirm"}, {"type": "QUICK_REPLY", "text": "No thanks"}]},
        ],
        "quality_score": {"score": "UNKNOWN"},
        "rejected_reason": "NONE",
    },
    {
        "id": "900000000000006",
        "name": "welcome_back",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Welcome back {{first_name}}! Your code {{discount_code}} is waiting.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"},
                        {"param_name": "discount_code", "example": "HELLO10"},
                    ]
                },
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        "id": "900000000000007",
        "name": "black_friday_teaser",
        "language": "en_US",
        "status": "REJECTED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Something big is coming. Stay tuned!"}],
        "quality_score": {"score": "UNKNOWN"},
        "rejected_reason": "PROMOTIONAL",
    },
    {
        # Image header + URL button + quick replies: the shape of most marketing templates (Meta's
        # template components reference; pywa tests/data/templates/buttons).
        "id": "900000000000008",
        "name": "summer_drop",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:sandbox"]}},
            {
                "type": "BODY",
                "text": "Hi {{1}}, the summer collection is here: {{2}} off for early birds.",
                "example": {"body_text": [["Ana", "15%"]]},
            },
            {"type": "FOOTER", "text": "Tap Stop promotions to opt out"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Shop the drop", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok123"]},
                    {"type": "QUICK_REPLY", "text": "Show me more"},
                    {"type": "QUICK_REPLY", "text": STOP_PROMOTIONS},
                ],
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        # A media card carousel: a body and 2-10 cards, each with a media header, optional body and up to
        # two buttons; every card has the same components (Meta's "Media card carousel templates";
        # pywa tests/data/templates/carousel/carousel.json).
        "id": "900000000000009",
        "name": "trail_picks_carousel",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "BODY", "text": "{{1}}, three trail shoes picked for you:", "example": {"body_text": [["Ana"]]}},
            {
                "type": "CAROUSEL",
                "cards": [
                    {
                        "components": [
                            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::card"]}},
                            {"type": "BODY", "text": "{{1}}: light and fast.", "example": {"body_text": [["Trail runner"]]}},
                            {
                                "type": "BUTTONS",
                                "buttons": [
                                    {"type": "QUICK_REPLY", "text": "More like this"},
                                    {"type": "URL", "text": "Shop", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok"]},
                                ],
                            },
                        ]
                    }
                    for _ in range(3)
                ],
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        # A limited-time offer with a copy-code coupon: image header, offer component, body, copy-code
        # button first, then a URL button; no footer (Meta's "Limited-time offer templates";
        # pywa tests/data/templates/limited_time_offer).
        "id": "900000000000010",
        "name": "flash_offer",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::offer"]}},
            {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Expiring offer!", "has_expiration": True}},
            {
                "type": "BODY",
                "text": "Good news, {{1}}! Use code {{2}} to get 25% off everything.",
                "example": {"body_text": [["Ana", "FLASH25"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "COPY_CODE", "example": "FLASH25"},
                    {"type": "URL", "text": "Shop now", "url": "https://shop.example.com/r/{{1}}", "example": ["https://shop.example.com/r/tok123"]},
                ],
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
    {
        # Named parameters in a text header and the body (Meta: parameter_format NAMED, parameter_name).
        "id": "900000000000011",
        "name": "vip_invite",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "An invite for {{first_name}}",
                "example": {"header_text_named_params": [{"param_name": "first_name", "example": "Ana"}]},
            },
            {
                "type": "BODY",
                "text": "Our VIP evening is on {{event_date}}. Bring a friend!",
                "example": {"body_text_named_params": [{"param_name": "event_date", "example": "Friday"}]},
            },
        ],
        "quality_score": {"score": "GREEN"},
        "rejected_reason": "NONE",
    },
]


def default_templates() -> list[dict]:
    return copy.deepcopy(DEFAULT_TEMPLATES)
