"""A real SMTP server for the e-mail tests (aiosmtpd on a free local port), keeping what
arrives, and able to refuse: `inbox.refuse.append("451 ...")` answers the next DATA with it.
Used by tests/test_mail.py (import `smtp`, a fixture, and `Inbox`)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Arrived:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        """As a mail client shows it: Python folds a long subject onto its own line, and reads
        it back with the folding white space in front."""
        return str(self.message["Subject"]).strip()

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content().replace("\r\n", "\n")     # SMTP's line ends

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content().replace("\r\n", "\n")

    @property
    def attachments(self) -> dict[str, tuple[str, bytes]]:
        """file name -> (content type, bytes)"""
        return {part.get_filename(): (part.get_content_type(), part.get_content())
                for part in self.message.iter_attachments()}


@dataclass
class Inbox:
    arrived: list[Arrived] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    url: str = ""

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse.pop(0)
        self.arrived.append(Arrived(list(envelope.rcpt_tos),
                                    message_from_bytes(envelope.original_content, policy=policy.default)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}"
    try:
        yield inbox
    finally:
        controller.stop()
