"""``/``: PLACEHOLDER for the province overview (issue 13, page 1).

The next engineer replaces this module and ``templates/pages/overview.html`` with the real
overview (one tile per unit, alerts per day, top rules/addresses/techniques, self-refresh).
Until then it says so on the page and links to the alert queue.
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.responses import Response

from socmon.api.console.deps import ConsoleUser, require_user
from socmon.api.console.pages import console_router
from socmon.api.console.render import render

router = console_router()


@router.get("/")
def overview(request: Request, cu: ConsoleUser = Depends(require_user("viewer"))) -> Response:
    return render(request, "pages/overview.html", {}, cu)
