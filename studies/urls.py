from django.urls import path

from . import views

app_name = "studies"

urlpatterns = [
    path("<slug:slug>/", views.entry, name="entry"),
    path("<slug:slug>/p/<str:token>/", views.participant_page, name="page"),
    path(
        "<slug:slug>/p/<str:token>/training/<int:number>/",
        views.training_review,
        name="training",
    ),
]
