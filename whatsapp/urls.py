from django.urls import path

from whatsapp.views import whatsapp_webhook

urlpatterns = [
    path("whatsapp", whatsapp_webhook, name="whatsapp-webhook"),
]
