"""Which webhook URLs tarmac will call: never cloud metadata, link-local or itself (SSRF).

Loopback receivers are refused unless ``TARMAC_WEBHOOK_ALLOW_LOOPBACK`` is set (tests and
the demo set it), and so is the host and port the API is being called on (the server
itself). Private (RFC 1918) addresses are allowed: in-house receivers live there.
The check runs when a webhook is saved and again before every delivery, on the addresses
the host name resolves to then.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.datastructures import URL

from tarmac.errors import WebhookUrlRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


def server_of(url: URL) -> tuple[str, int] | None:
    """The host and port a request reached (its ``request.url``): a webhook may not point
    back at them."""
    if not url.hostname:
        return None
    return url.hostname, url.port or (443 if url.scheme == "https" else 80)


def check_webhook_url(
    url: str, *, allow_loopback: bool, server: tuple[str, int] | None = None
) -> None:
    """Raise ``WebhookUrlRefused`` unless ``url`` is an http(s) URL to an allowed address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("a webhook URL must be http:// or https:// with a host", url=url)
    if parts.username or parts.password:
        raise WebhookUrlRefused("a webhook URL must not carry credentials", url=url)
    host = parts.hostname.lower().rstrip(".")
    if host in _METADATA_HOSTS:
        raise WebhookUrlRefused(f"{host} is a cloud metadata service", url=url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookUrlRefused("the webhook URL has an invalid port", url=url) from None
    server_addresses = _server_addresses(server[0]) if server else set()
    for address in resolve(host):
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason is None and server and port == server[1] and address in server_addresses:
            reason = "it is this tarmac server itself"
        if reason:
            raise WebhookUrlRefused(f"{url} resolves to {address}: {reason}", url=url)


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why tarmac won't call this address, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback:  # before is_reserved: ::1 lies in IPv6's reserved ::/8
        return (
            None
            if allow_loopback
            else ("a loopback address (set TARMAC_WEBHOOK_ALLOW_LOOPBACK to allow)")
        )
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "not a unicast address"
    return None


def _server_addresses(host: str) -> set[IPAddress]:
    return set(resolve(host))


def resolve(host: str) -> list[IPAddress]:
    """The addresses of ``host`` (an IP literal resolves to itself); none if it doesn't resolve.

    A name that does not resolve (yet) is accepted: nothing can be called through it, and
    the check runs again before each delivery.
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=str)
