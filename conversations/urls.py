from django.urls import path

from conversations import optin_pages

urlpatterns = [
    path("optin/<slug:slug>/", optin_pages.optin_page, name="optin"),
    path("optin/<slug:slug>/thanks/", optin_pages.optin_thanks, name="optin-thanks"),
    path("optin/<slug:slug>/confirm/", optin_pages.optin_confirm, name="optin-confirm"),
]
