from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from webapp.accounts.views import signup
from webapp.api import views as api
from webapp.health import healthz
from webapp.images import gallery_views as gv
from webapp.images import views as iv
from webapp.jobs import views as jv

urlpatterns = [
    path("", iv.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(success_url="/"),
         name="password_change"),
    path("upload/", iv.upload, name="upload"),
    path("uploads/<uuid:upload_id>/", iv.upload_detail, name="upload_detail"),
    path("uploads/<uuid:upload_id>/<str:which>", iv.upload_file, name="upload_file"),
    path("jobs/<uuid:job_id>/", jv.job_page, name="job"),
    path("jobs/<uuid:job_id>/status.json", jv.job_status, name="job_status"),
    path("jobs/<uuid:job_id>/cancel", jv.job_cancel_view, name="job_cancel"),
    path("jobs/<uuid:job_id>/result/", iv.result, name="result"),
    path("jobs/<uuid:job_id>/file/<str:which>", iv.result_file, name="result_file"),
    path("jobs/<uuid:job_id>/add-to-gallery", gv.gallery_add, name="gallery_add"),
    path("galleries/", gv.gallery_list, name="gallery_list"),
    path("galleries/<int:gallery_id>/", gv.gallery_detail, name="gallery_detail"),
    path("galleries/<int:gallery_id>/remove/<uuid:job_id>", gv.gallery_remove,
         name="gallery_remove"),
    path("galleries/<int:gallery_id>/share", gv.share_create, name="share_create"),
    path("galleries/<int:gallery_id>/share/<int:link_id>/revoke", gv.share_revoke,
         name="share_revoke"),
    path("s/<str:token>/", gv.shared, name="shared"),
    path("s/<str:token>/<uuid:job_id>/<str:which>", gv.shared_file, name="shared_file"),
    path("api/openapi.json", api.openapi, name="openapi"),
    path("api/v1/jobs", api.jobs, name="api_jobs"),
    path("api/v1/jobs/<uuid:job_id>", api.job_detail, name="api_job"),
    path("api/v1/jobs/<uuid:job_id>/cancel", api.job_cancel_api, name="api_job_cancel"),
    path("api/v1/jobs/<uuid:job_id>/output", api.job_output, name="api_job_output"),
    path("api/v1/models", api.models, name="api_models"),
]
