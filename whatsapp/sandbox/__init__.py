"""A fake WhatsApp Cloud API (see ``server.py``); runs without Django."""
