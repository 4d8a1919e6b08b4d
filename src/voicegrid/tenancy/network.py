"""Source-address rules for SIP trunks: CIDR lists, normalised and matched."""

import ipaddress

from voicegrid.tenancy.errors import InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalize_cidrs(values: list[str], field: str = "inbound_cidrs") -> list[str]:
    """Each entry as a canonical network (`10.0.0.7` -> `10.0.0.7/32`); host bits are an error."""
    out: list[str] = []
    for value in values:
        try:
            net: Network = ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as exc:
            raise InvalidInput(field, f"{value!r} is not a network address: {exc}") from None
        if str(net) not in out:
            out.append(str(net))
    return out


def source_allowed(address: str, cidrs: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c) for c in cidrs)
