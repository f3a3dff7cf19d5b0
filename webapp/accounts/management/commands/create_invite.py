"""`python manage.py create_invite [--by USERNAME]` prints a new sign-up invite code."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.models import Invite


class Command(BaseCommand):
    help = "Create a one-use sign-up code (for SR_SIGNUP=invite) and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--by", metavar="USERNAME", help="record who made the invite")

    def handle(self, *args: object, by: str | None, **options: object) -> None:
        creator = None
        if by is not None:
            creator = get_user_model().objects.filter(username=by).first()
            if creator is None:
                raise CommandError(f"no user named {by!r}")
        self.stdout.write(Invite.objects.create(created_by=creator).code)
