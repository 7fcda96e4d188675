from django.http import HttpRequest

MAX_PAGE = 10_000


def page_number(request: HttpRequest) -> int:
    """``?page=N`` as a sane positive number; anything else is page 1."""
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)
