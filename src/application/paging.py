"""One page of a listing: what every paged query of the HTTP API takes (``page`` from 1,
``page_size`` at most 500) and answers beside its items (``total``, ``page``, ``page_size``).
Oldest first everywhere, so a page once full stays the same as later items arrive.

Light at import time (pydantic only): the command line may load it while it parses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class PageRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class Paged(BaseModel):
    """The fields a paged answer adds (``None`` when the query was not paged: all given)."""

    total: int | None = None
    page: int | None = None
    page_size: int | None = None


def page_of(items: Sequence[T], request: PageRequest | None) -> tuple[list[T], Paged]:
    """The requested page of ``items`` and what to say of it; every item without a request."""
    if request is None:
        return list(items), Paged()
    start = (request.page - 1) * request.page_size
    chosen = list(items[start : start + request.page_size])
    return chosen, Paged(total=len(items), page=request.page, page_size=request.page_size)
