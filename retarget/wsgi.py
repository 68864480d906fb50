import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retarget.settings")
django_application = get_wsgi_application()

# Signed webhook deliveries (POST /webhooks/whatsapp) are answered without Django's middleware stack.
from whatsapp.intake import WebhookIntake  # noqa: E402 (needs the apps loaded by get_wsgi_application)

application = WebhookIntake(django_application)
