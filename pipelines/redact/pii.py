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
  - network blocks in CIDR notation shorter than one host (`52.14.0.0/16`; a `/32` is a host);
  - dotted numbers that are versions: more than four parts (1.2.3.4.5), a `v`/`version`/`release`/
    `build` word or a requirement pin (`==`, `>=`, `~=`) just before, or four single digits (1.2.3.4)
    without an address word on the line.
"""
from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterator

from pipelines.redact.spans import Span

# E-mails are found from each "@": the local part is the run of LOCAL characters before it (at most 64,
# starting with a letter or digit, not glued to a word), the host must match DOMAIN right after it.
LOCAL = frozenset(string.ascii_letters + string.digits + "._%+-")
DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w-]|\.[A-Za-z0-9])")
DOC_DOMAINS = ("example.com", "example.net", "example.org", "localhost")
DOC_SUFFIXES = (".example", ".test", ".invalid", ".localhost", ".example.com", ".example.net", ".example.org")
FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp ico bmp tif tiff avif js mjs ts tsx jsx css scss sass less json html htm "
    "xml yml yaml txt md rst py rb go rs java kt c h cpp hpp cs php sh pdf zip gz tar mp3 mp4 wav".split())
SERVICE_USERS = frozenset({"git", "hg", "svn"})

# Candidates are found from their dots (a pattern that starts with a literal runs at memchr speed): the
# first octet is read backwards from the match.
IPV4_TAIL = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d{1,3}")
IPV6_HIT = re.compile(r":[0-9A-Fa-f]{0,4}:")
IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
OCTET = re.compile(r"25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d")
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


def is_personal_email(text: str, start: int, at: int, m: re.Match) -> bool:
    local, host, tld = text[start:at], m.group().lower(), m.group(1).lower()
    if tld in FILE_EXTENSIONS or re.match(r"\d+(?:\.\d+)?x\.", host):
        return False
    if host in DOC_DOMAINS or host.endswith(DOC_SUFFIXES):
        return False
    if local.lower() in SERVICE_USERS:
        before, after = _line_around(text, start, m.end())
        if after.startswith(":") or before.endswith("://"):
            return False
    return True


def _local_start(text: str, at: int) -> int:
    """Start of the local part before text[at] == "@", or -1."""
    start = at
    while start > 0 and at - start < 64 and text[start - 1] in LOCAL:
        start -= 1
    if start > 0 and (text[start - 1] in LOCAL or text[start - 1].isalnum() or text[start - 1] == "_"):
        return -1   # longer than 64 or glued to a word (josé@..., x_é@...)
    while start < at and not text[start].isalnum():
        start += 1
    return start if start < at else -1


def find_emails(text: str) -> list[Span]:
    spans = []
    at = text.find("@")
    while at >= 0:
        m = DOMAIN.match(text, at + 1)
        start = _local_start(text, at) if m else -1
        if start >= 0 and is_personal_email(text, start, at, m):
            spans.append(Span(start, m.end(), "email"))
        at = text.find("@", m.end() if start >= 0 else at + 1)
    return spans


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


def _ipv4(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    while True:
        m = IPV4_TAIL.search(text, pos)
        if not m:
            return
        start = m.start()
        while start > 0 and m.start() - start < 3 and text[start - 1].isdigit():
            start -= 1
        if start == m.start():
            pos = m.start() + 1
            continue
        yield start, m.end()
        pos = m.end()


def _ipv6(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    while True:
        m = IPV6_HIT.search(text, pos)
        if not m:
            return
        start, end = m.start(), m.end()
        while start > 0 and text[start - 1] in IPV6_CHARS:
            start -= 1
        while end < len(text) and text[end] in IPV6_CHARS:
            end += 1
        yield start, end
        pos = end


def find_ips(text: str) -> list[Span]:
    spans = []
    for start, end in _ipv4(text):
        address = text[start:end]
        before, after = text[start - 1:start] if start else "", text[end:end + 2]
        if (before.isalnum() or before in "._" and before) or (after[:1].isalnum() or after[:1] == "_") \
                or (after[:1] == "." and after[1:2].isdigit()):
            continue   # part of a longer dotted number or word (1.2.3.4.5, v1.2.3.4, 1.2.3.4a)
        if not all(OCTET.fullmatch(part) for part in address.split(".")):
            continue
        if is_public_ip(address) and not _looks_like_version(text, start, end, address) \
                and not _network_block(address, text, end):
            spans.append(Span(start, end, "ip"))
    for start, end in _ipv6(text):
        address = text[start:end].rstrip(".")
        before, after = text[start - 1:start] if start else "", text[start + len(address):start + len(address) + 1]
        if address.count(":") < 2 or not any(c.isdigit() for c in address) or before.isalnum() or before == "_" \
                or after.isalnum() or after == "_":
            continue
        if is_public_ip(address):
            spans.append(Span(start, start + len(address), "ip"))
    return spans
