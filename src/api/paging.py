"""``?page=&page_size=`` on every listing of the HTTP API: bounded (at most 500 a page), oldest
first, with ``total`` in the answer (``application.paging``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from application.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest


def page_request(
    page: Annotated[int, Query(ge=1, description="the page, from 1")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="items a page (at most 500)")
    ] = DEFAULT_PAGE_SIZE,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


Page = Annotated[PageRequest, Depends(page_request)]
