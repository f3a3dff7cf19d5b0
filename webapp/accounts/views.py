"""Sign-up (open, closed or by invite: SR_SIGNUP) and log-in with a failure throttle; log
out and password change are Django's own views."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from webapp.accounts import throttle
from webapp.accounts.forms import INVITE_INVALID, InviteSignupForm, InviteTaken


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if settings.SR_SIGNUP == "closed":
        return render(request, "registration/signup_closed.html", status=403)
    form_class = InviteSignupForm if settings.SR_SIGNUP == "invite" else UserCreationForm
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = form.save()
        except InviteTaken:
            form.add_error("invite", INVITE_INVALID)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form},
                  status=400 if form.errors else 200)


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    return f"{round(seconds / 60)} minutes"


class LoginView(auth_views.LoginView):
    """Django's login, refused with 429 (before any password check) once a username or a
    client address has SR_LOGIN_MAX_FAILURES failures within SR_LOGIN_WINDOW_SECONDS."""

    def get_context_data(self, **kwargs: object) -> dict:
        context = super().get_context_data(**kwargs)
        context["signup_open"] = settings.SR_SIGNUP != "closed"
        return context

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        self.throttle_keys = throttle.throttle_keys(request, request.POST.get("username", ""))
        wait = throttle.seconds_blocked(self.throttle_keys)
        if wait:
            return self.too_many(wait)
        return super().post(request, *args, **kwargs)

    def too_many(self, wait: int) -> HttpResponse:
        message = f"Too many failed log-in attempts: try again in {_wait_text(wait)}."
        # An unbound form: rendering the posted one would validate it, i.e. check the password.
        context = self.get_context_data(form=AuthenticationForm(self.request),
                                        throttled=message)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(wait)
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        throttle.failure_record(self.throttle_keys)
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        throttle.failures_forget_user(self.throttle_keys)
        return super().form_valid(form)
