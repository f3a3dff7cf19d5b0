from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from webapp.accounts.views import LoginView, signup
from webapp.api import views as api
from webapp.health import healthz
from webapp.images import gallery_views as gv
from webapp.images import views as iv
from webapp.jobs import views as jv
from webapp.training import api as tapi
from webapp.training import dataset_views as tdv
from webapp.training import eval_api as teval
from webapp.training import views as tv

urlpatterns = [
    path("", iv.home, name="home"),
    path("healthz", healthz, name="healthz"),
    # The admin's own login would bypass the failed-login throttle: it uses ours instead.
    path("admin/login/", LoginView.as_view(), name="admin_login"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(success_url="/"),
         name="password_change"),
    path("upload/", iv.upload, name="upload"),
    path("uploads/<uuid:upload_id>/", iv.upload_detail, name="upload_detail"),
    path("uploads/<uuid:upload_id>/delete", iv.upload_remove, name="upload_delete"),
    path("uploads/<uuid:upload_id>/<str:which>", iv.upload_file, name="upload_file"),
    path("jobs/<uuid:job_id>/", jv.job_page, name="job"),
    path("jobs/<uuid:job_id>/status.json", jv.job_status, name="job_status"),
    path("jobs/<uuid:job_id>/cancel", jv.job_cancel_view, name="job_cancel"),
    path("jobs/<uuid:job_id>/retry", jv.job_retry_view, name="job_retry"),
    path("jobs/<uuid:job_id>/result/", iv.result, name="result"),
    path("jobs/<uuid:job_id>/file/<str:which>", iv.result_file, name="result_file"),
    path("jobs/<uuid:job_id>/frame.jpg", iv.result_frame, name="result_frame"),
    path("jobs/<uuid:job_id>/add-to-gallery", gv.gallery_add, name="gallery_add"),
    path("galleries/", gv.gallery_list, name="gallery_list"),
    path("galleries/<int:gallery_id>/", gv.gallery_detail, name="gallery_detail"),
    path("galleries/<int:gallery_id>/delete", gv.gallery_delete, name="gallery_delete"),
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
    path("api/v1/jobs/<uuid:job_id>/retry", api.job_retry_api, name="api_job_retry"),
    path("api/v1/jobs/<uuid:job_id>/output", api.job_output, name="api_job_output"),
    path("api/v1/models", api.models, name="api_models"),
    path("api/v1/datasets", tapi.datasets, name="api_datasets"),
    path("api/v1/training-jobs", tapi.training_jobs, name="api_training_jobs"),
    path("api/v1/training-jobs/<uuid:run_id>", tapi.training_job, name="api_training_job"),
    path("api/v1/training-jobs/<uuid:run_id>/<str:action>", tapi.training_job_action,
         name="api_training_job_action"),
    path("api/v1/evaluations", teval.evaluations, name="api_evaluations"),
    path("api/v1/evaluations/<uuid:job_id>", teval.evaluation, name="api_evaluation"),
    path("training/", tv.studio, name="training"),
    path("training/runs/new", tv.run_new, name="training_run_new"),
    path("training/runs/<uuid:run_id>/", tv.run_page, name="training_run"),
    path("training/runs/<uuid:run_id>/status.json", tv.run_status, name="training_run_status"),
    path("training/runs/<uuid:run_id>/cancel", tv.run_cancel, name="training_run_cancel"),
    path("training/runs/<uuid:run_id>/resume", tv.run_resume, name="training_run_resume"),
    path("training/runs/<uuid:run_id>/promote", tv.run_promote, name="training_run_promote"),
    path("training/runs/<uuid:run_id>/sample/<str:kind>.png", tv.run_sample,
         name="training_run_sample"),
    path("training/evaluations/", tv.evaluations, name="training_evaluations"),
    path("training/datasets/new", tdv.dataset_new, name="training_dataset_new"),
    path("training/datasets/<int:dataset_id>/", tdv.dataset_detail, name="training_dataset"),
    path("training/datasets/<int:dataset_id>/delete", tdv.dataset_remove,
         name="training_dataset_delete"),
    path("training/models/<slug:name>/delete", tv.promoted_remove, name="training_model_delete"),
    path("training/datasets/<int:dataset_id>/thumb/<int:index>", tdv.dataset_thumb,
         name="training_dataset_thumb"),
    path("training/datasets/<int:dataset_id>/preview/<str:kind>.png",
         tdv.dataset_preview_image, name="training_dataset_preview"),
]
