"""The production centre's batch upload: the same CSV file ``sscard production batch`` takes
(``application.batch_file``: header ``certificate,new_card_number,produced_at``), every row
recorded on its own by ``application.production_batch`` and answered in a table by its line
in the file. Sending the same file again records nothing twice: a row on record answers
"already recorded".

The file is bounded by the app's request limit (``api.middleware.MAX_BODY_BYTES``: some ten
thousand rows); a larger day's output goes through ``sscard production batch`` (up to
``MAX_ROWS``) or in parts. A file that is no batch (header, encoding, a line too long) is bad
input and nothing of it is recorded.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import Response

from api.middleware import MAX_BODY_BYTES
from api.state import office_of
from application import production_batch
from console.access import Permitted
from console.render import page
from domain.errors import InvalidInput
from domain.values import quote

_BATCH_ID = r"^[A-Za-z0-9._:-]{1,64}$"


def add_production_pages(console: FastAPI) -> None:
    @console.get("/production")
    def production_page(request: Request, identity: Permitted) -> Response:
        return page(request, "production.html", identity=identity, **_limits(), batch=None)

    @console.post("/production/batches")
    def upload_batch(
        request: Request,
        identity: Permitted,
        batch: Annotated[UploadFile, File()],
        batch_id: Annotated[str | None, Form(pattern=_BATCH_ID)] = None,
    ) -> Response:
        rows = _rows_of(batch)
        result = production_batch.record_batch(
            office_of(request), rows, identity.actor(), batch_id or None
        )
        return page(
            request,
            "production.html",
            identity=identity,
            **_limits(),
            batch=result,
            file_name=batch.filename or "",
        )


def _limits() -> dict[str, Any]:
    return {"max_kib": MAX_BODY_BYTES // 1024, "max_rows": production_batch.MAX_ROWS}


def _rows_of(upload: UploadFile) -> list[tuple[int, dict[str, str]]]:
    """The upload's rows, read by the batch file reader (its bounds and its refusals); the
    file's own name, not the scratch copy's, in a refusal."""
    name = Path(upload.filename or "batch.csv").name
    with tempfile.TemporaryDirectory(prefix="sscard-batch-") as scratch:
        path = Path(scratch) / "batch.csv"
        with path.open("wb") as copy:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, copy)
        try:
            return production_batch.read_batch(path)
        except InvalidInput as exc:
            raise InvalidInput(str(exc).replace(quote(str(path)), quote(name))) from None
