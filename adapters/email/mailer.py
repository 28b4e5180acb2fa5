"""Notification emails: rendered with Jinja2 (plain text and HTML), sent over SMTP or logged.

- Templates live in adapters/email/templates (`base.txt`, `base.html`; a type may add
  `<type>.txt` / `<type>.html` to replace them). HTML is autoescaped; the plain part is not.
- `SMTP_URL`: `smtp://user:password@host:port` (plain, or STARTTLS with `?starttls=1`) or
  `smtps://...` (TLS from the first byte). Unset (the embedded default): emails go to the log.
- A mail server that refuses or does not answer raises `Unavailable`: the email job is retried.
- Optional types carry `List-Unsubscribe` (and the one-click header of RFC 8058) besides the link.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain.identity.model import User
from domain.platform.notifications_model import Notification, optional
from domain.shared.errors import Unavailable

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class EmailTemplates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self._env = Environment(
            loader=FileSystemLoader(str(directory)), autoescape=select_autoescape(["html"]), keep_trailing_newline=True
        )

    def render(self, user: User, notification: Notification, unsubscribe_url: str | None) -> RenderedEmail:
        context = {
            "title": notification.title,
            "body": notification.body,
            "data": notification.data,
            "user_name": user.name,
            "unsubscribe_url": unsubscribe_url,
            "type_label": notification.type.replace("_", " "),
        }
        text = self._env.select_template([f"{notification.type}.txt", "base.txt"]).render(context)
        html = self._env.select_template([f"{notification.type}.html", "base.html"]).render(context)
        return RenderedEmail(subject=notification.title, text=text, html=html)


def build_message(
    sender: str, user: User, notification: Notification, email: RenderedEmail, unsubscribe_url: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = user.email
    message["Subject"] = email.subject
    message["Message-ID"] = make_msgid(idstring=notification.id)
    message["X-Houston-Notification"] = notification.id  # receivers (and tests) can drop duplicates
    if unsubscribe_url and optional(notification.type):
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    security: str = "none"  # none | starttls | ssl
    timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 10.0) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:port or smtps://...")
        query = parse_qs(parts.query)
        security = (
            "ssl"
            if parts.scheme == "smtps"
            else ("starttls" if query.get("starttls", ["0"])[0] in ("1", "true") else "none")
        )
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if security == "ssl" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            security=security,
            timeout=timeout,
        )


class SmtpMailer:
    def __init__(self, settings: SmtpSettings, sender: str, templates: EmailTemplates | None = None) -> None:
        self._settings = settings
        self._sender = sender
        self._templates = templates or EmailTemplates()

    def send(self, user: User, notification: Notification, unsubscribe_url: str | None) -> None:
        email = self._templates.render(user, notification, unsubscribe_url)
        message = build_message(self._sender, user, notification, email, unsubscribe_url)
        s = self._settings
        try:
            if s.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.username:
                    client.login(s.username, s.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise Unavailable(f"The mail server did not take the email ({error.__class__.__name__}).") from error
        log.info("notification email sent", extra={"notification_id": notification.id, "type": notification.type})


class LogMailer:
    """The embedded default: the rendered email goes to the log instead of a mail server."""

    def __init__(self, sender: str = "houston@localhost", templates: EmailTemplates | None = None) -> None:
        self._sender = sender
        self._templates = templates or EmailTemplates()
        self.sent: list[EmailMessage] = []  # the last few, for a developer's console

    def send(self, user: User, notification: Notification, unsubscribe_url: str | None) -> None:
        email = self._templates.render(user, notification, unsubscribe_url)
        message = build_message(self._sender, user, notification, email, unsubscribe_url)
        self.sent = [*self.sent[-49:], message]
        log.info(
            "notification email (SMTP_URL unset, not sent)",
            extra={
                "notification_id": notification.id,
                "type": notification.type,
                "subject": email.subject,
                "text": email.text,
            },
        )
