"""The simulator's HTTP layer (aiohttp): the national API on one port, its control on another.

National API (headers `Authorization` and `token` required, else 401):
  POST /complaints/complaint                 create; answers `complaint_id` (never deduplicates)
  POST /complaints/followup/add              add a follow-up (optionally moving the status)
  POST /complaints/process/{id}/reject       with `not_authority: 1`: forward to an institution
  GET  /complaints/{id}/complaint            status, disposition, logs
  GET  /complaints/{id}/followups
  GET  /complaints?tag=T                     complaints carrying tag T (the local reference)
  GET  /complaints/logs?after_id=N&limit=M   the action log of every complaint after entry N
  GET  /masters/institutions/external

Control (never faulted, so a test can always reach it, even while the API port is closed):
  GET/POST/DELETE /_sim/faults   the fault plan (POST replaces it)
  GET  /_sim/audit[?since_seq=N] counts by operation and outcome, and applied writes per
                                 tracking number; GET /_sim/audit/{tracking_number} in detail
                                 (each complaint's create as received, its follow-ups)
  POST /_sim/reset               forget every complaint and audit entry, back to the settings' plan
  POST /_sim/admin/complaints[/{id}/status|/{id}/followups|/{id}/dispose]   national admins act
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.sync.adapters.lapor_api import (
    ActionLog,
    ComplaintCreated,
    ComplaintDraft,
    ComplaintList,
    FollowupAdded,
    FollowupDraft,
    FollowupList,
    InstitutionList,
    NationalStatus,
    RejectRequest,
    WireModel,
    tracking_number_in,
)
from services.sync.simulator.faults import (
    Down,
    FaultInjector,
    FaultPlan,
    OutageMode,
    Proceed,
    RateLimited,
    ServerError,
)
from services.sync.simulator.registry import (
    APPLYING,
    INSTITUTIONS,
    WRITES,
    AuditEntry,
    NationalRegistry,
    Operation,
    Outcome,
    UnknownComplaintError,
    UnknownInstitutionError,
    audit_summary,
)
from services.sync.simulator.settings import SimulatorSettings

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
Audit = Callable[[Outcome, int | None], None]
# Where a create leaves its new national id for the audit.
_COMPLAINT_ID = web.RequestKey("complaint_id", int)


class StatusChange(WireModel):
    status: NationalStatus
    note: str | None = None


class AdminFollowup(WireModel):
    content: str
    status: NationalStatus | None = None


class Disposal(WireModel):
    institution_id: int
    note: str | None = None


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as error:
        raise web.HTTPUnprocessableEntity(
            text=error.json(include_url=False), content_type="application/json"
        ) from None


def _path_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


def _operation(request: web.Request) -> Operation | None:
    name = request.match_info.route.name
    return Operation(name) if name else None


class NationalSimulator:
    """The simulated national service; `async with NationalSimulator(settings):` runs it."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.registry = NationalRegistry()
        self._injector = FaultInjector(settings.faults, time.monotonic())
        self._stopping = asyncio.Event()
        self._listener_lock = asyncio.Lock()
        self._api_runner = web.AppRunner(
            self._api_app(), handler_cancellation=True, access_log=None, shutdown_timeout=1
        )
        self._control_runner = web.AppRunner(
            self._control_app(), access_log=None, shutdown_timeout=1
        )
        self._api_site: web.TCPSite | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.port = settings.port
        self.control_port = settings.control_port

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.settings.host}:{self.control_port}"

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._control_runner.setup()
        control = web.TCPSite(self._control_runner, self.settings.host, self.control_port)
        await control.start()
        self.control_port = self._control_runner.addresses[0][1]
        await self._api_runner.setup()
        await self._open_api()
        self._supervisor = asyncio.create_task(self._follow_schedule())
        await self._sync_listener()
        logger.info(
            "national LAPOR simulator at %s, control at %s", self.base_url, self.control_url
        )

    async def stop(self) -> None:
        self._stopping.set()  # hung requests give up
        if self._supervisor is not None:
            self._supervisor.cancel()
        await self._api_runner.cleanup()
        await self._control_runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM."""
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, self._stopping.set)
        async with self:
            await self._stopping.wait()

    # --- the listening port follows "connection refused" outages -----------------------------

    async def _open_api(self) -> None:
        self._api_site = web.TCPSite(self._api_runner, self.settings.host, self.port)
        await self._api_site.start()
        self.port = self._api_runner.addresses[0][1]  # the real one when settings said 0

    async def _follow_schedule(self) -> None:
        while True:
            await asyncio.sleep(self.settings.listener_check_seconds)
            try:
                await self._sync_listener()
            except OSError:
                logger.exception("cannot reopen the API port %s; retrying", self.port)

    async def _sync_listener(self) -> None:
        async with self._listener_lock:
            outage = self._injector.plan.outage_at(datetime.now(UTC))
            refusing = outage is not None and outage.mode is OutageMode.REFUSE
            if refusing and self._api_site is not None:
                site, self._api_site = self._api_site, None
                await site.stop()
                server = self._api_runner.server
                for connection in server.connections if server else ():
                    connection.close()  # idle keep-alive connections go too
                logger.info("outage: API port %s closed", self.port)
            elif not refusing and self._api_site is None:
                await self._open_api()
                logger.info("API port %s open again", self.port)

    async def _hang(self) -> web.StreamResponse:
        """Never answer: until the client gives up (the handler is cancelled) or we stop."""
        await self._stopping.wait()
        return _error(503, "shutting down")

    # --- national API ------------------------------------------------------------------------

    def _api_app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_and_audit, self._authenticate])
        app.router.add_post("/complaints/complaint", self._create, name=Operation.CREATE)
        app.router.add_post("/complaints/followup/add", self._add_followup, name=Operation.FOLLOWUP)
        app.router.add_post("/complaints/process/{id}/reject", self._reject, name=Operation.FORWARD)
        app.router.add_get(
            "/complaints/{id}/complaint", self._get_complaint, name=Operation.GET_COMPLAINT
        )
        app.router.add_get(
            "/complaints/{id}/followups", self._get_followups, name=Operation.GET_FOLLOWUPS
        )
        app.router.add_get("/complaints", self._list, name=Operation.LIST)
        app.router.add_get("/complaints/logs", self._actions, name=Operation.LIST_ACTIONS)
        app.router.add_get(
            "/masters/institutions/external", self._institutions, name=Operation.INSTITUTIONS
        )
        return app

    @web.middleware
    async def _faults_and_audit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        operation = _operation(request)
        if operation is None:
            return await handler(request)
        tracking_number, complaint_id = await self._subject(request, operation)

        def audit(outcome: Outcome, status: int | None) -> None:
            self.registry.record(
                operation=operation,
                outcome=outcome,
                status=status,
                tracking_number=tracking_number,
                complaint_id=request.get(_COMPLAINT_ID, complaint_id),
            )

        verdict = self._injector.verdict(
            datetime.now(UTC), time.monotonic(), is_create=operation is Operation.CREATE
        )
        if isinstance(verdict, Proceed):
            return await self._proceed(request, handler, verdict, audit)
        return await self._fault(request, verdict, audit)

    async def _fault(
        self, request: web.Request, verdict: Down | RateLimited | ServerError, audit: Audit
    ) -> web.StreamResponse:
        match verdict:
            case Down(outage) if outage.mode is OutageMode.REFUSE:
                audit(Outcome.REFUSED, None)
                return self._drop(request)
            case Down(outage) if outage.mode is OutageMode.HANG:
                audit(Outcome.HUNG, None)
                return await self._hang()
            case Down(outage):
                audit(Outcome.UNAVAILABLE, outage.status)
                return _error(outage.status, "service unavailable")
            case RateLimited(retry_after):
                audit(Outcome.RATE_LIMITED, 429)
                seconds = max(1, math.ceil(retry_after))  # whole seconds, as HTTP says; never early
                return web.json_response(
                    {"error": "too many requests"},
                    status=429,
                    headers={"Retry-After": str(seconds)},
                )
            case ServerError():
                audit(Outcome.SERVER_ERROR, 500)
                return _error(500, "internal server error")

    async def _proceed(
        self, request: web.Request, handler: Handler, verdict: Proceed, audit: Audit
    ) -> web.StreamResponse:
        if verdict.delay:
            await asyncio.sleep(verdict.delay)
        try:
            response = await handler(request)
        except web.HTTPException as error:
            audit(Outcome.REJECTED, error.status)
            raise
        if response.status >= 400:
            audit(Outcome.REJECTED, response.status)
            return response
        if verdict.after_create == "hang":
            audit(Outcome.APPLIED_THEN_HUNG, None)
            return await self._hang()
        if verdict.after_create == "drop":
            audit(Outcome.APPLIED_THEN_DROPPED, None)
            return self._drop(request)
        if verdict.after_create == "bad_gateway":
            audit(Outcome.APPLIED_THEN_BAD_GATEWAY, 502)
            return _error(502, "bad gateway")
        if verdict.after_create == "broken_body":
            audit(Outcome.APPLIED_THEN_BROKEN_BODY, response.status)
            assert isinstance(response, web.Response) and isinstance(response.body, bytes)
            whole = response.body
            return web.Response(
                status=response.status,
                body=whole[: len(whole) // 2],
                content_type="application/json",
            )
        audit(Outcome.APPLIED, response.status)
        return response

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Cut the connection without an answer, as a crashing or closing server does."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)  # never reaches the client

    async def _subject(
        self, request: web.Request, operation: Operation
    ) -> tuple[str | None, int | None]:
        """The local tracking number and national id a request is about, for the audit."""
        complaint_id: int | None = None
        if "id" in request.match_info:
            complaint_id = (
                int(request.match_info["id"]) if request.match_info["id"].isdigit() else None
            )
        elif operation in (Operation.CREATE, Operation.FOLLOWUP):
            try:
                body = await request.json()
            except ValueError:
                return None, None
            if not isinstance(body, dict):
                return None, None
            if operation is Operation.CREATE:
                tags = body.get("tags")
                if isinstance(tags, list):
                    return tracking_number_in([str(tag) for tag in tags]), None
                return None, None
            raw_id = body.get("complaint_id")
            complaint_id = raw_id if isinstance(raw_id, int) else None
        if complaint_id is None:
            return None, None
        return self.registry.tracking_number_of(complaint_id), complaint_id

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "")
        token = request.headers.get("token", "")
        if not (
            secrets.compare_digest(authorization, self.settings.authorization)
            and secrets.compare_digest(token, self.settings.token)
        ):
            return _error(401, "unauthorized")
        return await handler(request)

    async def _create(self, request: web.Request) -> web.Response:
        draft = await _parse(request, ComplaintDraft)
        try:
            record = self.registry.create(draft)
        except UnknownInstitutionError as error:
            return _error(422, f"unknown institution {error}")
        request[_COMPLAINT_ID] = record.complaint_id
        return _json(
            ComplaintCreated(complaint_id=record.complaint_id, tracking_id=record.tracking_id), 201
        )

    async def _add_followup(self, request: web.Request) -> web.Response:
        draft = await _parse(request, FollowupDraft)
        try:
            followup = self.registry.add_followup(
                draft.complaint_id, draft.content, draft.status, actor="integration"
            )
        except UnknownComplaintError:
            return _error(404, "complaint not found")
        return _json(FollowupAdded(followup_id=followup.followup_id), 201)

    async def _reject(self, request: web.Request) -> web.Response:
        complaint_id = _path_id(request)
        rejection = await _parse(request, RejectRequest)
        if rejection.not_authority != 1 or rejection.institution_id is None:
            return _error(422, "only forwarding (not_authority 1, institution_id) is supported")
        try:
            self.registry.dispose(
                complaint_id, rejection.institution_id, rejection.reason, actor="integration"
            )
        except UnknownComplaintError:
            return _error(404, "complaint not found")
        except UnknownInstitutionError:
            return _error(422, "unknown institution")
        return web.json_response({"complaint_id": complaint_id, "forwarded": True})

    async def _get_complaint(self, request: web.Request) -> web.Response:
        try:
            return _json(self.registry.complaint(_path_id(request)))
        except UnknownComplaintError:
            return _error(404, "complaint not found")

    async def _get_followups(self, request: web.Request) -> web.Response:
        try:
            return _json(FollowupList(followups=self.registry.followups(_path_id(request))))
        except UnknownComplaintError:
            return _error(404, "complaint not found")

    async def _list(self, request: web.Request) -> web.Response:
        if "tag" not in request.query:
            return _error(422, "tag is needed")
        found = (
            self.registry.every_complaint()
            if self._injector.plan.ignore_tag_filter
            else self.registry.tagged(request.query["tag"])
        )
        return _json(ComplaintList(complaints=[c.model_copy(update={"logs": []}) for c in found]))

    async def _actions(self, request: web.Request) -> web.Response:
        try:
            after_id = int(request.query["after_id"]) if "after_id" in request.query else None
            limit = min(int(request.query.get("limit", "100")), 1000)
        except ValueError as error:
            return _error(422, str(error))
        logs = self.registry.actions_after(after_id, limit)
        return _json(
            ActionLog(logs=logs, next_after_id=logs[-1].log_id if len(logs) == limit else None)
        )

    async def _institutions(self, _: web.Request) -> web.Response:
        return _json(InstitutionList(institutions=list(INSTITUTIONS)))

    # --- control ------------------------------------------------------------------------------

    def _control_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_sim/health", self._health)
        app.router.add_get("/_sim/faults", self._get_faults)
        app.router.add_post("/_sim/faults", self._set_faults)
        app.router.add_delete("/_sim/faults", self._clear_faults)
        app.router.add_get("/_sim/audit", self._audit)
        app.router.add_get("/_sim/audit/{tracking_number}", self._audit_of)
        app.router.add_post("/_sim/reset", self._reset)
        app.router.add_post("/_sim/admin/complaints", self._admin_create)
        app.router.add_post("/_sim/admin/complaints/{id}/status", self._admin_status)
        app.router.add_post("/_sim/admin/complaints/{id}/followups", self._admin_followup)
        app.router.add_post("/_sim/admin/complaints/{id}/dispose", self._admin_dispose)
        return app

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response(
            {"api_port": self.port, "api_listening": self._api_site is not None}
        )

    async def _apply_plan(self, plan: FaultPlan) -> web.Response:
        self._injector = FaultInjector(plan, time.monotonic())
        await self._sync_listener()
        return _json(plan)

    async def _get_faults(self, _: web.Request) -> web.Response:
        return _json(self._injector.plan)

    async def _set_faults(self, request: web.Request) -> web.Response:
        return await self._apply_plan(await _parse(request, FaultPlan))

    async def _clear_faults(self, _: web.Request) -> web.Response:
        return await self._apply_plan(FaultPlan())

    async def _reset(self, _: web.Request) -> web.Response:
        self.registry = NationalRegistry()
        return await self._apply_plan(self.settings.faults)

    async def _audit(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since_seq", "0"))
        except ValueError:
            return _error(422, "since_seq must be a whole number")
        return web.json_response(audit_summary([e for e in self.registry.audit if e.seq > since]))

    async def _audit_of(self, request: web.Request) -> web.Response:
        tracking_number = request.match_info["tracking_number"]
        entries = [e for e in self.registry.audit if e.tracking_number == tracking_number]
        applied = Counter(
            e.operation.value for e in entries if e.operation in WRITES and e.outcome in APPLYING
        )
        complaint_ids = sorted({e.complaint_id for e in entries if e.complaint_id is not None})
        known = [i for i in complaint_ids if self.registry.tracking_number_of(i) is not None]
        return web.json_response(
            {
                "tracking_number": tracking_number,
                "applied": dict(applied),
                "complaint_ids": known,
                "followups": {
                    str(i): [f.content for f in self.registry.followups(i)] for i in known
                },
                # What national's officers read of each: the create's fields and flags.
                "drafts": {str(i): self.registry.draft(i).model_dump(mode="json") for i in known},
                "entries": [_entry_json(e) for e in entries],
            }
        )

    async def _admin_create(self, request: web.Request) -> web.Response:
        draft = await _parse(request, ComplaintDraft)
        try:
            record = self.registry.create(draft, actor="admin")
        except UnknownInstitutionError:
            return _error(422, "unknown institution")
        return _json(record, 201)

    async def _admin_status(self, request: web.Request) -> web.Response:
        change = await _parse(request, StatusChange)
        return await self._admin_act(
            request, lambda i: self.registry.set_status(i, change.status, change.note)
        )

    async def _admin_followup(self, request: web.Request) -> web.Response:
        draft = await _parse(request, AdminFollowup)
        return await self._admin_act(
            request,
            lambda i: self.registry.add_followup(i, draft.content, draft.status, actor="admin"),
        )

    async def _admin_dispose(self, request: web.Request) -> web.Response:
        disposal = await _parse(request, Disposal)
        return await self._admin_act(
            request,
            lambda i: self.registry.dispose(i, disposal.institution_id, disposal.note, "admin"),
        )

    async def _admin_act(self, request: web.Request, act: Callable[[int], object]) -> web.Response:
        complaint_id = _path_id(request)
        try:
            act(complaint_id)
        except UnknownComplaintError:
            return _error(404, "complaint not found")
        except UnknownInstitutionError:
            return _error(422, "unknown institution")
        return _json(self.registry.complaint(complaint_id))


def _entry_json(entry: AuditEntry) -> dict[str, object]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "operation": entry.operation,
        "outcome": entry.outcome,
        "status": entry.status,
        "complaint_id": entry.complaint_id,
    }
