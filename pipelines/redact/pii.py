"""E-mail and IP address detection for code and its neighbours, with the look-alikes that must survive.

E-mail: a conventional address (local part, "@", dotted host, alphabetic top-level label). Kept:
  - service accounts of source hosting, `git@host:org/repo` and `ssh://git@...` (the user is `git`,
    nobody's identity);
  - RFC 2606/6761 documentation domains: example.com/.net/.org, *.example, *.test, *.invalid,
    *.localhost, localhost;
  - things shaped like addresses that are not: `python@2.7`, `pkg@1.2.3`, `actions/checkout@v4`
    (no alphabetic top-level label), retina images `icon@2x.png` and other file names (the last
    label is a file extension, FILE_EXTENSIONS), `%s@%s.com` and `{user}@{host}` templates.
IP: IPv4 dotted quads and IPv6 addresses that `ipaddress` accepts. Only globally routable unicast
addresses are redacted; kept because they identify no one:
  - loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local, CGNAT 100.64/10,
    unspecified, broadcast, multicast, reserved, netmasks;
  - RFC 5737 (192.0.2/24, 198.51.100/24, 203.0.113/24) and RFC 3849 (2001:db8::/32) documentation
    ranges, RFC 2544 benchmarking 198.18/15;
  - the public DNS resolvers everybody configures (WELL_KNOWN);
  - dotted numbers that are versions: more than four parts (1.2.3.4.5), a `v`/`version`/`release`/
    `build` word just before, or four single digits (1.2.3.4) without an address word on the line.
"""
from __future__ import annotations

import ipaddress
import re

from pipelines.redact.spans import Span

EMAIL = re.compile(
    r"(?<![\w.+%'`-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-]|\.[A-Za-z0-9])")
DOC_DOMAINS = ("example.com", "example.net", "example.org", "localhost")
DOC_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".example.com", ".example.net", ".example.org")
FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp ico bmp tif tiff avif js mjs ts tsx jsx css scss sass less json html htm "
    "xml yml yaml txt md rst py rb go rs java kt c h cpp hpp cs php sh pdf zip gz tar mp3 mp4 wav".split())
SERVICE_USERS = frozenset({"git", "hg", "svn"})

IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")   # candidates; octets and edges checked in find_ips
OCTET = re.compile(r"25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d")
IPV6 = re.compile(r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?)(?![\w:])")
# A version word as a word of its own (`ver`, `release`) or a CamelCase part (`AssemblyVersion`), never
# inside another word (`server`).
VERSION_WORDS = re.compile(r"(?:(?<![A-Za-z])(?i:v|version|ver|release|build|revision|rev|assembly|firmware|driver|"
                           r"sdk|api|python|node|go|java|jdk|gcc|clang|cuda|tag)|(?<=[a-z])(?:Version|Ver|Release|"
                           r"Build|Revision|Rev))[\s=:\"'(@/_-]{0,3}$")
VERSION_PIN = re.compile(r"(?:==|>=|<=|~=|!=|\^)\s*$")   # requirement pins: pkg==3.10.0.0, >=, ~=, ^
CIDR = re.compile(r"/(\d{1,3})(?!\d)")
ADDRESS_WORDS = re.compile(r"\b(?:ip|ips|ipv4|addr|address|host|hosts|server|dns|nameserver|ping|connect|bind|"
                           r"listen|proxy|gateway|route|inet|peer|remote|client|endpoint|ssh|http|https|tcp|"
                           r"udp|firewall|allow|deny|whitelist|allowlist|from)\b", re.I)
WELL_KNOWN = frozenset({"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
                        "208.67.222.222", "208.67.220.220", "2001:4860:4860::8888", "2001:4860:4860::8844",
                        "2606:4700:4700::1111", "2606:4700:4700::1001"})


def _line_around(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before the span on its line, and the rest of its line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return text[line_start:start], text[end:line_end if line_end >= 0 else len(text)]


def is_personal_email(text: str, m: re.Match) -> bool:
    local, host, tld = m.group(1), m.group(2).lower(), m.group(3).lower()
    if tld in FILE_EXTENSIONS or re.match(r"\d+(?:\.\d+)?x\.", host):
        return False
    if host in DOC_DOMAINS or host.endswith(DOC_SUFFIXES):
        return False
    if local.lower() in SERVICE_USERS:
        before, after = _line_around(text, m.start(), m.end())
        if after.startswith(":") or before.endswith("://"):
            return False
    return True


def find_emails(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [Span(m.start(), m.end(), "email") for m in EMAIL.finditer(text) if is_personal_email(text, m)]


def is_public_ip(address: str) -> bool:
    """Globally routable unicast (IPv6: in 2000::/3), not a well-known public resolver."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_ip(str(ip.ipv4_mapped))
        if not (ip.packed[0] & 0xE0 == 0x20):
            return False
    return ip.is_global and not ip.is_multicast and str(ip) not in WELL_KNOWN


def _looks_like_version(text: str, start: int, end: int, address: str) -> bool:
    before, after = _line_around(text, start, end)
    if VERSION_WORDS.search(before[-24:]) or VERSION_PIN.search(before[-3:]):
        return True
    if all(len(part) == 1 for part in address.split(".")):
        return not ADDRESS_WORDS.search(before + " " + after)
    return False


def _network_block(address: str, text: str, end: int) -> bool:
    """`52.14.0.0/16`: a network (host bits zero), an organisation's range, not anybody's host."""
    m = CIDR.match(text, end)
    if not m:
        return False
    try:
        net = ipaddress.ip_network(f"{address}/{m.group(1)}", strict=True)
    except ValueError:
        return False
    return net.num_addresses > 1   # a /32 (or /128) is one host


def find_ips(text: str) -> list[Span]:
    spans = []
    if "." in text:
        for m in IPV4.finditer(text):
            start, end, address = m.start(), m.end(), m.group()
            before, after = text[start - 1:start] if start else "", text[end:end + 2]
            if (before.isalnum() or before in "._" and before) or (after[:1].isalnum() or after[:1] == "_") \
                    or (after[:1] == "." and after[1:2].isdigit()):
                continue   # part of a longer dotted number or word (1.2.3.4.5, v1.2.3.4, 1.2.3.4a)
            if not all(OCTET.fullmatch(part) for part in address.split(".")):
                continue
            if is_public_ip(address) and not _looks_like_version(text, start, end, address) \
                    and not _network_block(address, text, end):
                spans.append(Span(start, end, "ip"))
    if "::" in text or ":" in text and re.search(r"[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:", text):
        for m in IPV6.finditer(text):
            address = m.group(1)
            if address.count(":") >= 2 and any(c.isdigit() for c in address) and is_public_ip(address):
                spans.append(Span(m.start(1), m.end(1), "ip"))
    return spans
