"""One small client per service API (docs/api.md); views call these, never ``requests``."""

from storefront.clients.base import ApiError, FieldError, Page, ServiceUnavailable, SessionExpired

__all__ = ["ApiError", "FieldError", "Page", "ServiceUnavailable", "SessionExpired"]
