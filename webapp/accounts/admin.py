from django.contrib import admin

from webapp.accounts.models import Invite


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Staff add an invite here (the code is generated) and hand the code out."""

    list_display = ("code", "created_by", "created_at", "used_by", "used_at")
    readonly_fields = ("code", "used_by", "used_at")

    def save_model(self, request: object, obj: Invite, form: object, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
