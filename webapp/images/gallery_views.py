"""Gallery pages for owners, and the read-only shared page behind a share link."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from webapp.images import galleries
from webapp.images.files import result_file_response
from webapp.images.models import ShareLink
from webapp.images.ranges import byte_ranges
from webapp.images.selectors import (
    gallery_get_for_user,
    gallery_list_for_user,
    gallery_results,
    result_get_for_user,
    share_link_active,
)


def _gallery_or_404(request: HttpRequest, gallery_id: int):
    gallery = gallery_get_for_user(gallery_id=gallery_id, user=request.user)
    if gallery is None:
        raise Http404("no such gallery")
    return gallery


@login_required
@require_http_methods(["GET", "POST"])
def gallery_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            gallery = galleries.gallery_create(owner=request.user,
                                               title=request.POST.get("title", ""))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("gallery_list")
        return redirect("gallery_detail", gallery_id=gallery.id)
    return render(request, "images/gallery_list.html",
                  {"galleries": gallery_list_for_user(user=request.user)})


@login_required
def gallery_detail(request: HttpRequest, gallery_id: int) -> HttpResponse:
    gallery = _gallery_or_404(request, gallery_id)
    return render(request, "images/gallery_detail.html",
                  {"gallery": gallery, "results": gallery_results(gallery=gallery),
                   "links": gallery.links.all()})


@login_required
@require_POST
def gallery_add(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    """Add a result to a chosen gallery, or to a new one titled in the same form."""
    result = result_get_for_user(job_id=job_id, user=request.user)
    if result is None:
        raise Http404("no such result")
    try:
        with transaction.atomic():  # no empty new gallery when the result cannot be added
            if request.POST.get("gallery"):
                gallery = _gallery_or_404(request, int(request.POST["gallery"]))
            else:
                gallery = galleries.gallery_create(owner=request.user,
                                                   title=request.POST.get("title", ""))
            galleries.gallery_add_result(gallery=gallery, result=result)
    except (ValidationError, ValueError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("result", job_id=job_id)
    messages.success(request, f"Added to “{gallery.title}”.")
    return redirect("gallery_detail", gallery_id=gallery.id)


@login_required
@require_POST
def gallery_delete(request: HttpRequest, gallery_id: int) -> HttpResponse:
    gallery = _gallery_or_404(request, gallery_id)
    galleries.gallery_delete(gallery=gallery)
    messages.success(request, f"Gallery “{gallery.title}” deleted; its share links no longer "
                              "work and its results are still yours.")
    return redirect("gallery_list")


@login_required
@require_POST
def gallery_remove(request: HttpRequest, gallery_id: int, job_id: uuid.UUID) -> HttpResponse:
    gallery = _gallery_or_404(request, gallery_id)
    result = result_get_for_user(job_id=job_id, user=request.user)
    if result is not None:
        galleries.gallery_remove_result(gallery=gallery, result=result)
    return redirect("gallery_detail", gallery_id=gallery.id)


@login_required
@require_POST
def share_create(request: HttpRequest, gallery_id: int) -> HttpResponse:
    gallery = _gallery_or_404(request, gallery_id)
    raw = request.POST.get("expires_in_days", "").strip()
    try:
        galleries.share_link_create(gallery=gallery,
                                    expires_in_days=int(raw) if raw else None)
    except (ValidationError, ValueError):
        messages.error(request, "The expiry must be a whole number of days (1 or more).")
    return redirect("gallery_detail", gallery_id=gallery.id)


@login_required
@require_POST
def share_revoke(request: HttpRequest, gallery_id: int, link_id: int) -> HttpResponse:
    gallery = _gallery_or_404(request, gallery_id)
    link = ShareLink.objects.filter(id=link_id, gallery=gallery).first()
    if link is None:
        raise Http404("no such link")
    galleries.share_link_revoke(link=link)
    return redirect("gallery_detail", gallery_id=gallery.id)


def shared(request: HttpRequest, token: str) -> HttpResponse:
    """The public, read-only view of a gallery; 404 once the link is revoked or expired."""
    link = share_link_active(token=token)
    if link is None:
        raise Http404("this link does not exist or is no longer shared")
    return render(request, "images/shared.html",
                  {"gallery": link.gallery, "results": gallery_results(gallery=link.gallery),
                   "token": token})


@byte_ranges
def shared_file(request: HttpRequest, token: str, job_id: uuid.UUID, which: str) -> HttpResponse:
    link = share_link_active(token=token)
    if link is None:
        raise Http404("this link does not exist or is no longer shared")
    result = gallery_results(gallery=link.gallery).filter(job_id=job_id).first()
    if result is None:
        raise Http404("no such item")
    return result_file_response(result, which)
