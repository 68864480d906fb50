"""``python -m whatsapp.sandbox``: run the sandbox without Django (the tests start it this way)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from whatsapp.sandbox.server import SandboxConfig, run


def parse_config(argv: list[str] | None = None) -> tuple[SandboxConfig, str, int]:
    parser = argparse.ArgumentParser(prog="whatsapp.sandbox", description="Fake WhatsApp Cloud API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--webhook-url", default="", help="where signed webhooks are POSTed (none when empty)")
    parser.add_argument("--access-token", default=os.environ.get("WHATSAPP_ACCESS_TOKEN") or "sandbox-token")
    parser.add_argument("--app-secret", default=os.environ.get("WHATSAPP_APP_SECRET") or "sandbox-app-secret")
    parser.add_argument("--phone-number-id", default=os.environ.get("WHATSAPP_PHONE_NUMBER_ID") or "100000000000001")
    parser.add_argument("--waba-id", default=os.environ.get("WHATSAPP_BUSINESS_ACCOUNT_ID") or "200000000000002")
    parser.add_argument("--app-id", default=os.environ.get("WHATSAPP_APP_ID") or "300000000000003")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every API answer")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random rates, for repeatable runs")
    parser.add_argument("--config", default="", help="more settings as a JSON object, or @path/to/file.json")
    args = parser.parse_args(argv)

    config = SandboxConfig(
        access_token=args.access_token,
        app_secret=args.app_secret,
        phone_number_id=args.phone_number_id,
        waba_id=args.waba_id,
        app_id=args.app_id,
        webhook_url=args.webhook_url,
        latency=args.latency,
        seed=args.seed,
    )
    if args.config:
        raw = Path(args.config[1:]).read_text() if args.config.startswith("@") else args.config
        try:
            config = config.updated(json.loads(raw))
        except ValueError as exc:
            parser.error(f"--config: {exc}")
    return config, args.host, args.port


def main(argv: list[str] | None = None) -> None:
    config, host, port = parse_config(argv)
    run(config, host=host, port=port)


if __name__ == "__main__":
    main()
