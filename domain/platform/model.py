"""The admin area's own limits. Login history lives in domain.identity.logins and the audit
log's records in domain.shared.audit (the areas that write them must not import this one)."""
from __future__ import annotations

AUDIT_FILTER_MAX_LENGTH = 64
SEARCH_MAX_LENGTH = 254
