"""The hosted opt-in page (conversations/views.py), included at the site's root."""

from django.urls import path

from conversations import views

urlpatterns = [
    path("optin/<slug:slug>/", views.optin_page, name="optin"),
    path("optin/<slug:slug>/thanks/", views.optin_thanks, name="optin-thanks"),
    path("optin/<slug:slug>/confirm/", views.optin_confirm, name="optin-confirm"),
]
