"""gunicorn's settings for Retarget: ``gunicorn -c python:retarget.gunicorn_conf retarget.wsgi:application``.

The access log never carries a phone number: the parts of a line that come from the client (the
request line, path, query string and referer) go through ``core.logging.mask_phone``. The support
search sends numbers in a POST body, which is not logged; this also masks an old bookmark or a
hand-typed URL with ``?phone=…``. The client address stays as it is (it would look like a number).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger  # type: ignore[import-untyped]  # gunicorn ships no type information

from core.logging import mask_phone

# Atoms of gunicorn's access_log_format that repeat what the client sent in the URL.
_CLIENT_URL_ATOMS = ("r", "U", "q", "f", "{referer}i")


class PhoneMaskingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _CLIENT_URL_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = _url_masked(atoms[key])
        return atoms


def _url_masked(text: str) -> str:
    """``text`` as sent, unless it names a number once decoded ("%2B49+151…"): then decoded and masked."""
    decoded = unquote_plus(text)
    masked = mask_phone(decoded)
    return text if masked == decoded else masked


logger_class = PhoneMaskingLogger


def post_worker_init(worker: Any) -> None:
    """A threaded worker stores webhook status deliveries in groups: one INSERT and commit for those waiting together.

    A sync worker answers one request at a time: its groups would hold one delivery, so it stores each itself.
    """
    from whatsapp.services import webhook_group_commit_start

    if worker.cfg.threads > 1:
        webhook_group_commit_start()


def worker_exit(server: Any, worker: Any) -> None:
    from whatsapp.services import webhook_group_commit_stop

    webhook_group_commit_stop()
