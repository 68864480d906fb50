"""Public routes of the campaigns side."""

from django.urls import path

from campaigns import views

urlpatterns = [
    path("r/<str:token>", views.click_redirect, name="click-redirect"),
]
