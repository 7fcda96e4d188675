from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """`{count, next, previous, results}` with `?limit=&offset=`."""

    default_limit = 20
    max_limit = 100
