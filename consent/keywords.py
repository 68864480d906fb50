"""Keywords people send on WhatsApp (STOP, START, HELP...): recognising them.

Matching rule: the WHOLE message is compared after trimming, case-folding, folding accents and
dropping punctuation, symbols (emoji included) and whitespace. So "stop!", " Stop. ", "S.T.O.P",
"Stop 🛑", "opt-out" and "arrêt" match, while "don't stop the deals", "stopping" and "STOP IT" do
not: a longer sentence is left to a person in the support inbox (it is stored as an inbound
message, unanswered) rather than guessed at. The rule is predictable and is what our messages
tell people to send ("Reply STOP").

Meta's marketing opt-out quick-reply button ("Stop promotions") arrives as a ``button`` message;
``optout_button_match`` recognises it by its payload or text (see OPTOUT_BUTTON_VALUES).

Matching only: what a keyword does (and the reply it gets) is conversations.keywords.
"""

from __future__ import annotations

import enum
import unicodedata
from functools import lru_cache

from django.conf import settings

OPTOUT_KEYWORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT")
OPTIN_KEYWORDS = ("START", "UNSTOP")
HELP_KEYWORDS = ("HELP", "INFO")
# Meta's opt-out button is labelled "Stop promotions" in English; its payload is not documented
# precisely, so any of these values (normalised like keywords) counts, as does any opt-out keyword
# and anything starting with "stop promotion".
# Our own payload on the opt-out quick reply of every template we send (campaigns.parameters): a
# press carries it back whatever the button's label or language.
STOP_PROMOTIONS_PAYLOAD = "RETARGET_STOP_PROMOTIONS"
OPTOUT_BUTTON_VALUES = (
    STOP_PROMOTIONS_PAYLOAD,
    "Stop promotions",
    "Stop promotion",
    "Stop marketing",
    "Stop marketing messages",
    "Unsubscribe from promotions",
    "Werbung stoppen",
    "Parar promociones",
    "Detener promociones",
    "Arrêter les promotions",
)


class KeywordAction(str, enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


def keyword_normalize(text: str) -> str:
    """Case-folded, accent-free text without punctuation, symbols or whitespace."""
    decomposed = unicodedata.normalize("NFKD", (text or "").strip().casefold())
    return "".join(ch for ch in decomposed if unicodedata.category(ch)[0] not in ("M", "P", "S", "Z", "C"))


@lru_cache(maxsize=32)
def _normalized_set(words: tuple[str, ...]) -> frozenset[str]:
    """Cached: sends check every quick reply of every message against these lists."""
    return frozenset(keyword_normalize(word) for word in words)


def optout_keywords() -> frozenset[str]:
    return _normalized_set((*OPTOUT_KEYWORDS, *settings.WHATSAPP_OPTOUT_KEYWORDS))


def keyword_match(text: str) -> KeywordAction | None:
    """The action a whole message asks for, or None for any other message."""
    word = keyword_normalize(text)
    if not word:
        return None
    if word in optout_keywords():
        return KeywordAction.OPT_OUT
    if word in _normalized_set(tuple(OPTIN_KEYWORDS)):
        return KeywordAction.OPT_IN
    if word in _normalized_set(tuple(HELP_KEYWORDS)):
        return KeywordAction.HELP
    return None


def optout_button_match(*values: str) -> bool:
    """True when a pressed button's payload or text is a marketing opt-out."""
    button_values = _normalized_set(tuple(OPTOUT_BUTTON_VALUES)) | optout_keywords()
    for value in values:
        word = keyword_normalize(value)
        if word and (word in button_values or word.startswith("stoppromotion")):
            return True
    return False
