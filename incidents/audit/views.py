"""The audit log page: read-only, for administrators (organisation role), filters and keyset pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from incidents.audit import log
from incidents.audit.models import AuditSealer
from incidents.http import AuthRequest, render_page_or_fragment
from incidents.models import OrgRole


@require_GET
@login_required
def audit_log(request: AuthRequest) -> HttpResponse:
    if not (request.user.is_active and request.user.org_role == OrgRole.ADMINISTRATOR):
        raise PermissionDenied(_("The audit log is for administrators."))
    filters = log.LogFilters.from_params(request.GET)
    before = request.GET.get("before", "")
    page = log.log_page(request.user, filters, before)
    context = {
        "filters": filters,
        "page": page,
        "tables": log.table_choices(),
        "actors": log.actor_choices(),
        "sealer": AuditSealer.objects.filter(pk=1).only("head_seq", "low_id").first(),
    }
    return render_page_or_fragment(request, "audit/log.html", "audit-rows" if before else "results", context)
