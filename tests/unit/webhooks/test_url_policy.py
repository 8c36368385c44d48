"""Which addresses a webhook may call."""

from __future__ import annotations

import ipaddress

import pytest

from tarmac.errors import WebhookUrlRefused
from tarmac.webhooks.url_policy import check_webhook_url, refusal


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("0.0.0.0", "not a unicast address"),
        ("224.0.0.1", "not a unicast address"),
        ("127.0.0.1", "a loopback address (set TARMAC_WEBHOOK_ALLOW_LOOPBACK to allow)"),
        ("::1", "a loopback address (set TARMAC_WEBHOOK_ALLOW_LOOPBACK to allow)"),
        ("10.1.2.3", None),
        ("192.168.1.10", None),
        ("93.184.216.34", None),
    ],
)
def test_refusal(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address), allow_loopback=False) == reason


def test_loopback_only_when_allowed_and_never_the_server_itself() -> None:
    check_webhook_url("http://127.0.0.1:9000/hook", allow_loopback=True)
    with pytest.raises(WebhookUrlRefused, match="itself"):
        check_webhook_url(
            "http://127.0.0.1:9000/hook", allow_loopback=True, server=("127.0.0.1", 9000)
        )
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url("http://127.0.0.1:9000/hook", allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "http:///nohost", "http://a:b@example.com/", "http://metadata/x"],
)
def test_malformed_or_credentialled_urls(url: str) -> None:
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url(url, allow_loopback=False)
