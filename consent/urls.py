from django.urls import path

from consent import views

urlpatterns = [
    path("optin/<slug:slug>/", views.optin_page, name="optin"),
    path("optin/<slug:slug>/thanks/", views.optin_thanks, name="optin-thanks"),
    path("optin/<slug:slug>/confirm/", views.optin_confirm, name="optin-confirm"),
    path("u/<str:token>", views.unsubscribe_page, name="unsubscribe"),
]
