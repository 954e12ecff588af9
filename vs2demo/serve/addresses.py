"""Whose request is it: the visitor's address, trusting ``X-Forwarded-For`` only from configured proxies.

Uvicorn (under Gradio) trusts the header from 127.0.0.1 by default and rewrites the connection's address before
any middleware sees it, so anyone on the host could claim any address (20 of 20 spoofed addresses were accepted),
while behind a front proxy that uvicorn does not trust every visitor shares the proxy's one address. The app turns
uvicorn's rewriting off (``uvicorn_trusts_nobody``) and decides here, from $VS2_TRUSTED_PROXIES:

* empty (the default): the connection's own address; forwarding headers are ignored;
* a list of addresses or networks (``10.0.0.0/8,192.168.1.5``): a request from one of them is attributed to the
  right-most address in ``X-Forwarded-For`` that is not itself a trusted proxy (what a proxy appends is the part
  a visitor cannot forge).

On a Hugging Face Space every request arrives from the Space's front proxy on a private address, which appends the
visitor's address: set ``VS2_TRUSTED_PROXIES=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.1`` there (or the
proxy's exact range if known); without it every visitor shares the proxy's address and its bound.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        networks = []
        for item in (part.strip() for part in text.split(",")):
            if item:
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError as exc:
                    raise ValueError(f"VS2_TRUSTED_PROXIES: {item!r} is not an address or network") from exc
        return cls(tuple(networks))

    @classmethod
    def from_env(cls) -> TrustedProxies:
        return cls.parse(os.environ.get("VS2_TRUSTED_PROXIES", ""))

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str]) -> str:
        """The visitor's address for a connection from ``peer`` carrying these X-Forwarded-For values."""
        if not peer:
            return "?"
        if not self.trusts(peer):
            return peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return _without_port(hop)
        return peer


def _without_port(hop: str) -> str:
    if hop.startswith("[") and "]" in hop:
        return hop[1:hop.index("]")]
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


def forwarded_values(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The X-Forwarded-For values of raw ASGI headers."""
    return [value.decode("latin-1") for name, value in headers if name.lower() == b"x-forwarded-for"]


def uvicorn_trusts_nobody() -> None:
    """Stop uvicorn rewriting the connection's address from forwarding headers: the guard decides whom to trust.
    Uvicorn reads $FORWARDED_ALLOW_IPS when the server starts (its default trusts 127.0.0.1); an address that
    matches nothing turns its rewriting off."""
    os.environ["FORWARDED_ALLOW_IPS"] = "0.0.0.0/32"
