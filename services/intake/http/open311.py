"""Open311 GeoReport v2: LAPOR's categories as services, requests in, their status out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake.domain.channels import Inbound
from services.intake.domain.tracking import normalize
from services.intake.http.auth import Lookup, Service, authorised, require
from shared.events import Channel, ComplaintContent, Coordinates, Location, Reporter
from shared.masking import masked, masked_or_none

OPEN311_SERVICES: list[dict[str, str]] = json.loads(
    (Path(__file__).parent.parent / "open311_services.json").read_text()
)

open311 = APIRouter(prefix="/open311/v2", tags=["open311"])


class Open311Request(BaseModel):
    """GeoReport v2 `POST requests` fields (form-encoded)."""

    api_key: str
    service_code: str
    description: str = Field(min_length=1, max_length=20_000)
    lat: float | None = None
    long: float | None = None
    address_string: str | None = Field(default=None, max_length=500)
    email: str | None = None
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = None


@open311.get("/services.json")
async def open311_services() -> list[dict[str, Any]]:
    return [
        {
            "service_code": s["service_code"],
            "service_name": s["service_name"],
            "description": f"Kategori LAPOR: {s['category']}",
            "metadata": False,
            "type": "realtime",
            "keywords": "",
            "group": "LAPOR",
        }
        for s in OPEN311_SERVICES
    ]


@open311.post("/requests.json")
async def open311_request(
    request: Request, form: Annotated[Open311Request, Form()], service: Service
) -> JSONResponse:
    caller = await authorised(request, form.api_key)
    require(caller, Channel.OPEN311)
    category = next(
        (s["category"] for s in OPEN311_SERVICES if s["service_code"] == form.service_code), None
    )
    if category is None:
        description = f"service_code {form.service_code!r} unknown"
        return JSONResponse([{"code": 400, "description": description}], 400)
    name = " ".join(p for p in (form.first_name, form.last_name) if p) or None
    coordinates = None
    if form.lat is not None and form.long is not None:
        coordinates = Coordinates(latitude=form.lat, longitude=form.long)
    content = ComplaintContent(
        title=form.description.split("\n")[0][:80],
        body=form.description,
        category=category,
        location=Location(text=form.address_string, coordinates=coordinates),
        reporter=Reporter(name=name, email=form.email, phone=form.phone),
    )
    result = await service.submit(Inbound(Channel.OPEN311, content), caller)
    return JSONResponse([{"service_request_id": result.tracking_number}], status_code=201)


@open311.get("/requests/{service_request_id}.json")
async def open311_status(service_request_id: str, service: Service, lookup: Lookup) -> JSONResponse:
    status = await service.public_status(normalize(service_request_id), None)
    if status is None:
        await lookup.missed(service_request_id)
        return JSONResponse([{"code": 404, "description": "not found"}], 404)
    complaint = status.complaint
    coordinates = complaint.location.coordinates
    return JSONResponse(
        [
            {
                "service_request_id": complaint.tracking_number,
                "status": "closed" if status.status in {"resolved", "archived"} else "open",
                "status_notes": masked_or_none(status.timeline[-1].public_note)
                if status.timeline
                else None,
                "service_name": complaint.category,
                # What the public status shows: the (masked) title, never the full text.
                "description": masked(complaint.title),
                "agency_responsible": status.agency_code,
                "requested_datetime": complaint.received_at.isoformat(),
                "address": masked_or_none(complaint.location.text),
                # A shared WhatsApp location is where the reporter stood, often their home:
                # the public sees the neighbourhood (three decimals, about 100 m), not the house.
                "lat": round(coordinates.latitude, 3) if coordinates else None,
                "long": round(coordinates.longitude, 3) if coordinates else None,
            }
        ]
    )
