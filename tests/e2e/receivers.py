"""Local stand-ins for Slack, PagerDuty and an SMTP server that record what Alertmanager sends them.

Slack's incoming webhook and PagerDuty's Events API v2 are one loopback HTTP
server (the path tells them apart); the SMTP server is aiosmtpd, which offers
AUTH without TLS on loopback (Go's PLAIN auth sends credentials in the clear
only to localhost, so Alertmanager logs in exactly as it would over TLS). Each
message becomes a :class:`Delivery`: its channel, whether it says firing or
resolved, the alert name, and the text a person would read, in which the
tests look for the rendered annotations.
"""

import email
import html
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.servers.harness import LOOPBACK, free_ports, http_server

SLACK_PATH = "/slack/services/T0E2E/B0E2E/e2e"
"""Path of the Slack webhook stand-in (the URL goes into the `slackWebhookUrl` secret)."""
PAGERDUTY_PATH = "/pagerduty/v2/enqueue"
"""Path of the PagerDuty Events API v2 stand-in (`notifications.pagerduty.url`)."""
DEAD_MANS_SWITCH_PATH = "/heartbeat/ping/e2e"
"""Path of the dead man's switch stand-in (the URL goes into the `deadMansSwitchUrl` secret)."""

_SLACK_TITLE = re.compile(r"^\[(FIRING|RESOLVED)\] (\S+)")
_EMAIL_SUBJECT = re.compile(r"^\[(FIRING|RESOLVED)(?::\d+)?\] (\S+)")


@dataclass(frozen=True)
class Delivery:
    """One notification as a receiver got it."""

    channel: str
    """slack, email or pagerduty."""
    status: str
    """firing or resolved ("unreadable" when the payload was not what the channel expects)."""
    alertname: str
    text: str
    """Every human-readable part of the payload (title, text, summary, details, email body)."""
    at: float
    """time.monotonic() when it arrived."""
    payload: Any
    """The JSON body, or for an email its headers, envelope and login."""


@dataclass
class Inbox:
    """Every delivery of the session, in arrival order, safe to fill from the receivers' threads."""

    _deliveries: list[Delivery] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, delivery: Delivery) -> None:
        with self._changed:
            self._deliveries.append(delivery)
            self._changed.notify_all()

    def all(self) -> list[Delivery]:
        """A copy of what has arrived so far."""
        with self._changed:
            return list(self._deliveries)

    def wait_for(self, done: Callable[[list[Delivery]], bool], timeout: float) -> bool:
        """Wait until ``done(deliveries)`` holds, at most ``timeout`` seconds; whether it does."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(list(self._deliveries)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 1.0))
            return True


def _unreadable(channel: str, payload: Any) -> Delivery:
    return Delivery(channel, "unreadable", "", json.dumps(payload, default=str), time.monotonic(), payload)


def slack_delivery(payload: Any) -> Delivery:
    """A Slack webhook post: title "[FIRING] <alertname> (...)" and the attachment text."""
    try:
        (attachment,) = payload["attachments"]
        match = _SLACK_TITLE.match(attachment["title"])
        assert match, attachment["title"]
    except (KeyError, TypeError, ValueError, AssertionError):
        return _unreadable("slack", payload)
    text = "\n".join(str(attachment.get(key, "")) for key in ("title", "text", "fallback"))
    return Delivery("slack", match.group(1).lower(), match.group(2), text, time.monotonic(), payload)


def pagerduty_delivery(payload: Any) -> Delivery:
    """A PagerDuty Events API v2 event: `payload.summary` is "<alertname> in <stack>: ...: <summary>"."""
    try:
        status = {"trigger": "firing", "resolve": "resolved"}[payload["event_action"]]
        summary = payload["payload"]["summary"]
        alertname = summary.split(" ", 1)[0]
        details = json.dumps(payload["payload"].get("custom_details"), ensure_ascii=False)
    except (KeyError, TypeError, AttributeError):
        return _unreadable("pagerduty", payload)
    return Delivery("pagerduty", status, alertname, f"{summary}\n{details}", time.monotonic(), payload)


def heartbeat_delivery(payload: Any) -> Delivery:
    """An Alertmanager webhook post to the dead man's switch: the Watchdog, always firing."""
    try:
        (alert,) = payload["alerts"]
        alertname = alert["labels"]["alertname"]
        status = payload["status"]
    except (KeyError, TypeError, ValueError):
        return _unreadable("deadmansswitch", payload)
    return Delivery("deadmansswitch", status, alertname, json.dumps(alert), time.monotonic(), payload)


def email_delivery(raw: bytes, envelope: dict[str, Any]) -> Delivery:
    """An email: subject "[FIRING:1] <alertname> ..." and the HTML body, entities decoded."""
    message = email.message_from_bytes(raw, policy=policy.default)
    subject = str(message["Subject"] or "")
    body_part = message.get_body(("html", "plain"))
    body = html.unescape(body_part.get_content()) if body_part is not None else ""
    payload = {
        "subject": subject,
        "from": str(message["From"] or ""),
        "to": str(message["To"] or ""),
        **envelope,
    }
    match = _EMAIL_SUBJECT.match(subject)
    if not match:
        return _unreadable("email", payload)
    return Delivery(
        "email", match.group(1).lower(), match.group(2), f"{subject}\n{body}", time.monotonic(), payload
    )


@contextmanager
def webhook_receiver(inbox: Inbox) -> Iterator[str]:
    """The Slack, PagerDuty and dead man's switch stand-in on loopback; yields its base URL (``http://127.0.0.1:port``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body.decode(errors="replace")
            if self.path == SLACK_PATH:
                inbox.add(slack_delivery(payload))
                # What Slack answers an incoming webhook (Alertmanager checks for "ok").
                self._answer(200, "text/plain", b"ok")
            elif self.path == DEAD_MANS_SWITCH_PATH:
                inbox.add(heartbeat_delivery(payload))
                self._answer(200, "text/plain", b"OK")
            elif self.path == PAGERDUTY_PATH:
                inbox.add(pagerduty_delivery(payload))
                dedup_key = payload.get("dedup_key", "") if isinstance(payload, dict) else ""
                answer = {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
                self._answer(202, "application/json", json.dumps(answer).encode())
            else:
                self._answer(404, "text/plain", b"no such stand-in")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the tests report what arrived
            pass

    with http_server(Handler) as address:
        yield f"http://{address}"


class _Smtp(SMTP):
    # The LOGIN challenges real servers send (Postfix, Exchange, Gmail); Go's and Alertmanager's
    # LOGIN client checks for them, and aiosmtpd's own ("User Name") fail it.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Smtp(self.handler, **self.SMTP_kwargs)


@contextmanager
def smtp_receiver(inbox: Inbox, username: str, password: str) -> Iterator[str]:
    """An SMTP server on loopback offering AUTH for these credentials; yields ``127.0.0.1:port``.

    A login with other credentials is refused (Alertmanager then fails the
    notification, which the tests see as a missing email and in its metrics).
    """
    logins: list[tuple[str, str, bool]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
        logins.append((mechanism, login, ok))
        return AuthResult(success=ok)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            # One Alertmanager connection per email: the latest login is this message's.
            mechanism, login, ok = logins[-1] if logins else ("", "", False)
            inbox.add(
                email_delivery(
                    envelope.original_content or envelope.content,
                    {
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": list(envelope.rcpt_tos),
                        "auth": {"mechanism": mechanism, "login": login, "accepted": ok},
                    },
                )
            )
            return "250 Message accepted for delivery"

    (port,) = free_ports(1)
    controller = _Controller(
        Handler(),
        hostname=LOOPBACK,
        port=port,
        authenticator=authenticate,
        # AUTH is offered without TLS (loopback) but not required: a message sent without logging in
        # is kept, and the tests see that it has no login.
        auth_require_tls=False,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        controller.stop()
