import socket

import uvicorn

from services.intake.app import app, settings
from shared.masking import configure_logging
from shared.proxies import uvicorn_proxy_options

configure_logging(settings.log_level)


def _listening_socket() -> socket.socket:
    """The API's socket. With `intake_share_port`, several intake processes listen on the same
    address (SO_REUSEPORT: the kernel spreads connections over them), each a whole intake of its
    own: one process is one core's worth of requests, and they need no parent to supervise."""
    listener = socket.socket(socket.AF_INET6 if ":" in settings.bind_host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.intake_share_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((settings.bind_host, settings.intake_http_port))
    return listener


# No access log: every request is measured (`lapor_hub_intake_http_request_duration_seconds`).
uvicorn.Server(
    uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        **uvicorn_proxy_options(settings.trusted_proxies),
    )
).run(sockets=[_listening_socket()])
