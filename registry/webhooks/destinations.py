"""Where webhooks may be sent: public addresses, plus the networks an operator allows.

A subscription URL is chosen by any publisher, and the registry posts to it from inside the
operator's network, so an unchecked URL would let a publisher reach internal services
(server-side request forgery): `http://10.0.0.5/admin`, the cloud metadata address
`169.254.169.254`, the registry's own loopback port. Such addresses are refused when a
subscription is made and again before every delivery (a name may resolve differently later),
unless `GREENLANG_WEBHOOK_ALLOW_NETWORKS` lists their network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOW_ENV = "GREENLANG_WEBHOOK_ALLOW_NETWORKS"


class DestinationRefused(ValueError):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated networks (`127.0.0.0/8, 10.1.2.3, fd00::/8`); ValueError names a bad one."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{ALLOW_ENV}: {item!r} is not an IP network") from None
    return tuple(networks)


def _kind(address: Address) -> str:
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


async def _addresses(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # not resolvable now: nothing to reach; delivery checks again
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


@dataclass(frozen=True)
class Destinations:
    allowed: tuple[Network, ...] = ()

    def allows(self, address: Address) -> bool:
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
        address = mapped or address
        return address.is_global or any(address in net for net in self.allowed)

    async def check(self, url: str) -> None:
        """Raise DestinationRefused when the URL's host is or resolves to a refused address."""
        host = urlsplit(url).hostname or ""
        for address in await _addresses(host):
            if not self.allows(address):
                where = f"{host} resolves to {address}," if host != str(address) else f"{host} is"
                raise DestinationRefused(
                    f"{where} a {_kind(address)} address; webhooks go to public addresses"
                    f" unless {ALLOW_ENV} lists the network"
                )
