from django.urls import path

from consent import views

urlpatterns = [
    path("u/<str:token>", views.unsubscribe_page, name="unsubscribe"),
]
