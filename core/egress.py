"""Where the service may send requests of its own (webhook deliveries): public addresses only,
unless the operator allows a host.

A webhook URL is typed by whoever holds `webhooks:manage`. Without this check a subscription
to http://169.254.169.254/, http://localhost:5432 or http://0x7f000001/ makes the worker probe
the cloud's metadata service or internal ports on their behalf. A URL's host is resolved once,
every address it resolves to must be public (globally routable unicast), and the request then
goes to that checked address: connecting by name would resolve again, and an answer changed in
between (DNS rebinding) would slip past the check. Literal addresses in any spelling (decimal,
hex, IPv4-mapped IPv6) are resolved the same way, so they are checked as what they mean.

CPQ_WEBHOOK_ALLOW_HOSTS (Settings.webhook_allow_hosts) names host names, addresses or networks
(CIDR) that may be private all the same, e.g. an ERP on the internal network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from core.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (numeric spellings included); [] when it does not."""
    try:
        return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError):
        return []


def is_public(address: Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local (169.254.169.254, the cloud
    metadata service), unique-local (fd00:ec2::254), shared, reserved or multicast."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked URL: `url` names the address to connect to; `host` is what the URL named, sent
    as the Host header and used for TLS (SNI and the certificate's name)."""
    url: str
    host: str
    netloc: str
    address: Address
    private: bool              # allowed by the operator, though not public


@dataclass(frozen=True)
class Egress:
    """The outbound policy: public addresses, and what `allow` names (host names, addresses, networks)."""
    allow: tuple[str, ...] = ()

    def _allowed_name(self, host: str) -> bool:
        return host.rstrip(".") in {entry.lower().rstrip(".") for entry in self.allow}

    def _allowed_address(self, address: Address) -> bool:
        for entry in self.allow:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue                                   # a host name, not a network
        return False

    def check(self, url: str) -> Target:
        """The address to send `url`'s request to; raises InvalidInput("url") when the host does
        not resolve or resolves to any address that is neither public nor allowed."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [ipaddress.ip_address(a.partition("%")[0]) for a in resolve(host, port)]
        if not addresses:
            raise InvalidInput("url", f"the host {host!r} does not resolve")
        named = self._allowed_name(host)
        refused = [a for a in addresses if not (named or is_public(a) or self._allowed_address(a))]
        if refused:
            raise InvalidInput("url", f"the host {host!r} is not a public address (loopback, private, link-local "
                                      "or metadata); an operator may allow it with CPQ_WEBHOOK_ALLOW_HOSTS")
        address = addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = literal + (f":{parts.port}" if parts.port else "")
        return Target(url=urlunsplit(parts._replace(netloc=netloc)), host=host, netloc=parts.netloc,
                      address=address, private=not is_public(address))

    def check_subscription(self, url: str) -> None:
        """At subscription time: as `check`, except that an allowed host name need not resolve
        yet (the operator vouched for it; a delivery still resolves and connects to what it finds)."""
        if not self._allowed_name((urlsplit(url).hostname or "").lower()):
            self.check(url)
