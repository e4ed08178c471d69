"""Job photos: the owner of a job uploads pictures of the work, kept by the storage service.

Storage is an external dependency (an in-process fake here, ``resilience/fakes.py``) behind
its circuit breaker. Nothing sensible can stand in for a photo, so when storage is
unavailable (errors, a timeout, the breaker open) the answer is 503 with ``Retry-After`` and
the client uploads again later; the job itself is untouched either way.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter
from fastapi.responses import Response

from target_app.api.deps import HomeownerUser, JobId, StateDep
from target_app.api.queries import load_job
from target_app.api.routing import ServiceRoute, json_response
from target_app.core.errors import Forbidden, InvalidInput, NotFound
from target_app.core.problems import responses
from target_app.schemas import PhotoOut, PhotoUpload

router = APIRouter(tags=["jobs"], route_class=ServiceRoute)


@router.post(
    "/jobs/{job_id}/photos", response_model=PhotoOut, status_code=201, responses=responses(403, 404)
)
def upload_photo(
    job_id: JobId, body: PhotoUpload, state: StateDep, caller: HomeownerUser
) -> Response:
    """Add a photo to a job you own. 201 with its URL; 503 + Retry-After while storage is down."""
    try:
        data = base64.b64decode(body.content_base64, validate=True)
    except ValueError:  # binascii.Error (bad padding, stray characters) is one
        raise InvalidInput("`content_base64` is not valid base64.") from None
    if not data:
        raise InvalidInput("The photo is empty.")
    with state.db.read_session() as session:
        job = load_job(session, job_id)
        if job is None:
            raise NotFound(f"No job {job_id}.")
        if job.homeowner_id != caller.user_id:
            raise Forbidden(f"Job {job_id} is not yours.")
    url = state.resilience.store_photo_from_thread(f"jobs/{job_id}/{body.filename}", data)
    out = PhotoOut(job_id=job_id, filename=body.filename, url=url, size=len(data))
    return json_response(out, 201, {"Location": url})
