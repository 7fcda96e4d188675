from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """`{count, next, previous, results}` with `?limit=&offset=`.

    A ``limit`` that is not a positive integer, or an ``offset`` that is not a non-negative
    one, is a 400 (field ``limit``/``offset``), as the OpenAPI document says; a ``limit``
    above ``max_limit`` is cut to it.
    """

    default_limit = 20
    max_limit = 100

    def _strict_int(self, request, name: str, minimum: int) -> int | None:
        raw = request.query_params.getlist(name)
        if not raw:
            return None
        if len(raw) > 1:
            raise ValidationError({name: ["Give this parameter once."]})
        text = raw[0]
        if not (text.isascii() and text.isdigit()) or int(text) < minimum:
            raise ValidationError({name: [f"Must be an integer of at least {minimum}."]})
        return int(text)

    def get_limit(self, request) -> int:
        limit = self._strict_int(request, self.limit_query_param, 1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        offset = self._strict_int(request, self.offset_query_param, 0)
        return 0 if offset is None else offset

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        minimum = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            if parameter["name"] in minimum:
                parameter["schema"] = {**parameter["schema"], "minimum": minimum[parameter["name"]]}
        return parameters
