"""Delivers one webhook over HTTP(S) without ever reaching the service's own network (SSRF).

Decisions:
- The host is resolved here and EVERY address it resolves to is checked; the connection then goes
  to that checked address (pinned), with the host name kept for the Host header, SNI and the
  certificate check. So DNS rebinding between a check and the connect cannot swap in 127.0.0.1.
- Refused: every address that is not global (`ipaddress`'s `is_global`: loopback, private,
  link-local with the cloud metadata address 169.254.169.254, CGNAT, multicast, reserved,
  unspecified; IPv4-mapped IPv6 is checked as its IPv4), unless WEBHOOK_ALLOWED_NETWORKS names it.
- Redirects are never followed: a 3xx is a failed attempt (logged with its Location), so a
  public URL cannot bounce a delivery to a private address.
- HTTPS only when `require_https` (production); the certificate is verified.
- Short timeouts: connect 3 s, each read 5 s, the whole attempt 10 s; at most 4 KiB of the
  response is read (and 1 KiB kept in the log). A slow body is cut at the deadline.
- The standard library's http.client and not an HTTP library: pinning a checked address while
  keeping SNI and the certificate's host name is a few lines here, and a redirect-following,
  proxy-reading client would have to be switched off piece by piece.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from domain.platform.webhooks_model import SendResult
from domain.shared.errors import InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
URL_MAX = 2048


class RefusedAddress(Exception):
    pass


def parse_networks(text: str) -> list[Network]:
    """`WEBHOOK_ALLOWED_NETWORKS`: comma-separated CIDRs (empty: none)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedHttpSender:
    def __init__(
        self,
        *,
        allowed_networks: Sequence[Network] = (),
        require_https: bool = False,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        total_timeout: float = 10.0,
        max_response_bytes: int = 4096,
        resolver: Resolver = _resolve,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allowed = list(allowed_networks)
        self._require_https = require_https
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_response = max_response_bytes
        self._resolver = resolver
        self._ssl = ssl_context or ssl.create_default_context()

    # --- the URL ------------------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        try:
            scheme, host, port, _ = self._parts(url)
            try:
                literal = ipaddress.ip_address(host)
            except ValueError:
                return  # a name: checked again at every delivery, when it is resolved
            self._check_address(str(literal))
        except RefusedAddress as error:
            raise InvalidInput("The webhook URL is not allowed.", details={"url": str(error)}) from None

    def _parts(self, url: str) -> tuple[str, str, int, str]:
        if len(url) > URL_MAX:
            raise RefusedAddress(f"Longer than {URL_MAX} characters.")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise RefusedAddress("Not a valid URL.") from None
        allowed = ("https",) if self._require_https else ("https", "http")
        if parts.scheme not in allowed:
            raise RefusedAddress("Must be an https:// URL." if self._require_https else "Must be an http(s):// URL.")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise RefusedAddress("Must name a host, without user or password.")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path

    def _check_address(self, address: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in network for network in self._allowed):
            return
        if not ip.is_global or ip.is_multicast:
            raise RefusedAddress(f"The address {ip} is not a public address.")

    # --- one attempt --------------------------------------------------------------------------
    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            scheme, host, port, path = self._parts(url)
            addresses = self._resolver(host, port)
            if not addresses:
                raise RefusedAddress(f"{host} has no address.")
            for address in addresses:
                self._check_address(address)
        except RefusedAddress as error:
            return SendResult(None, took(), f"refused: {error}")
        except OSError as error:
            return SendResult(None, took(), f"cannot resolve host: {error.__class__.__name__}")
        deadline = started + self._total_timeout
        connection = self._connection(scheme, host, port, addresses[0])
        try:
            connection.request("POST", path, body=body, headers={**headers, "content-length": str(len(body))})
            sock = connection.sock  # getresponse() may hand it to the response and forget it
            sock.settimeout(self._remaining(deadline))
            response = connection.getresponse()
            excerpt = self._read_capped(response, sock, deadline)
            problem = None
            if 300 <= response.status < 400:
                problem = f"redirect not followed (Location: {response.getheader('location', '')[:200]})"
            elif not 200 <= response.status < 300:
                problem = f"HTTP {response.status}"
            return SendResult(response.status, took(), problem, excerpt)
        except TimeoutError:
            return SendResult(None, took(), "timeout")
        except ssl.SSLError as error:
            return SendResult(None, took(), f"TLS error: {error.__class__.__name__}")
        except (OSError, http.client.HTTPException) as error:
            return SendResult(None, took(), f"connection error: {error.__class__.__name__}")
        finally:
            connection.close()

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return min(left, self._read_timeout)

    def _read_capped(self, response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> str:
        chunks: list[bytes] = []
        size = 0
        while size < self._max_response:
            sock.settimeout(self._remaining(deadline))
            chunk = response.read1(min(1024, self._max_response - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def _connection(self, scheme: str, host: str, port: int, address: str) -> Any:
        timeout = self._connect_timeout
        if scheme == "https":
            return _PinnedHttps(host, port, address, timeout, self._ssl)
        return _PinnedHttp(host, port, address, timeout)


class _PinnedHttp(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHttps(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ctx = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)
