"""A local SMTP server for `make run`: keeps every alert the notifier sends in a Maildir
(`.local/mail/`) and logs one line each, so the demo's emails are delivered, not dead-lettered.
Development only (aiosmtpd is a dev dependency); production points the notifier at real SMTP."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("mail-sink")


class LoggingMailbox(Mailbox):
    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        log.info("mail to %s", ", ".join(envelope.rcpt_tos))
        result: str = await super().handle_DATA(server, session, envelope)
        return result


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    directory = Path(os.environ.get("LAPOR_HUB_STATE_DIR", ".local")) / "mail"
    port = int(os.environ.get("LAPOR_HUB_NOTIFIER_SMTP_PORT", "1025"))
    directory.parent.mkdir(parents=True, exist_ok=True)  # Maildir makes the rest
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # before the server thread starts: it inherits
    controller = Controller(LoggingMailbox(directory), hostname="127.0.0.1", port=port)
    controller.start()  # serves from its own thread
    log.info("SMTP sink on 127.0.0.1:%d, mail kept in %s", port, directory)
    signal.sigwait(stop)
    controller.stop()


if __name__ == "__main__":
    main()
