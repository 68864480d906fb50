"""The sandbox receives a send in full before it waits its latency, as a remote API would.

Found by the worker-kill drill (``make chaos``): the sandbox waited its latency before reading the
request, so a send whose worker was killed during that wait was dropped unread, although it had
left the worker in full. WhatsApp would have received it; the worker's row is then "unknown" and
must be resolved by the status webhook, which the sandbox therefore has to send.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlparse

from django.conf import settings


def test_a_send_whose_client_dies_while_the_sandbox_delays_its_answer_is_still_accepted(sandbox):
    sandbox.configure(latency=0.5)
    body = json.dumps(
        {
            "messaging_product": "whatsapp",
            "to": "4915123456781",
            "type": "text",
            "text": {"body": "hello"},
            "biz_opaque_callback_data": "msg:cut-off",
        }
    ).encode()
    address = urlparse(sandbox.url)
    request = (
        f"POST /{settings.WHATSAPP_API_VERSION}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\nAuthorization: Bearer {settings.WHATSAPP_ACCESS_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    with socket.create_connection((address.hostname, address.port)) as client:
        client.sendall(request)
        time.sleep(0.1)  # the request has arrived; the answer is still 0.4 s away
    # The client is gone (as when its worker is SIGKILLed) before the answer.

    time.sleep(0.8)
    (send,) = sandbox.sends()
    assert send["callback_data"] == "msg:cut-off"

