"""`python manage.py revoke_api_token USERNAME [PREFIX]` revokes that user's API tokens.

Tokens are stored hashed; the first 10 characters (the prefix shown by `--list`) identify
one. Without PREFIX every active token of the user is revoked.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.api.models import ApiToken
from webapp.api.tokens import token_revoke


class Command(BaseCommand):
    help = "Revoke USERNAME's API tokens (all, or the one with PREFIX); --list shows them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("prefix", nargs="?", default=None,
                            help="the token's first 10 characters (see --list)")
        parser.add_argument("--list", action="store_true", dest="list_only",
                            help="list active tokens, revoke none")

    def handle(self, *args: object, username: str, prefix: str | None, list_only: bool,
               **options: object) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        active = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        if list_only:
            for token in active.order_by("created_at"):
                self.stdout.write(f"{token.prefix}  {token.name or '-'}  "
                                  f"last used {token.last_used_at or 'never'}")
            return
        if prefix is not None:
            active = active.filter(prefix=prefix)
            if not active.exists():
                raise CommandError(f"{username!r} has no active token starting {prefix!r}")
        count = 0
        for token in active:
            token_revoke(token=token)
            count += 1
        self.stdout.write(f"revoked {count} token(s) of {username!r}")
