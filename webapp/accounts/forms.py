"""The sign-up form for `SR_SIGNUP=invite`: Django's, plus a one-use invite code."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction

from webapp.accounts.models import invite_is_unused, invite_spend

INVITE_INVALID = "This invite code is unknown or has been used."


class InviteTaken(Exception):
    """Another sign-up spent the code between validation and saving."""


class InviteSignupForm(UserCreationForm):
    invite = forms.CharField(label="Invite code", max_length=32,
                             help_text="Ask the site's staff for one.")

    def clean_invite(self) -> str:
        code = self.cleaned_data["invite"].strip()
        if not invite_is_unused(code):
            raise forms.ValidationError(INVITE_INVALID)
        return code

    def save(self, commit: bool = True) -> object:
        # One transaction: a code spent by a concurrent sign-up undoes this user too.
        with transaction.atomic():
            user = super().save(commit=True)
            if not invite_spend(self.cleaned_data["invite"], user):
                raise InviteTaken
        return user
