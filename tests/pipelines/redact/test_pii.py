"""E-mail and IP detection: what is replaced, and the look-alikes that must survive."""
import pytest

from pipelines.redact import redact_text
from pipelines.redact.pii import find_emails, find_ips


def _found(text, finder):
    return [text[s.start:s.end] for s in finder(text)]


@pytest.mark.parametrize("text, want", [
    ("# Author: Jane Roe <jane.roe@gmail.com>", ["jane.roe@gmail.com"]),
    ("Signed-off-by: K. Okafor <kofi+dev@lab.uni-heidelberg.de>", ["kofi+dev@lab.uni-heidelberg.de"]),
    ('"author": "mail me: a_b9@zentrix.io."', ["a_b9@zentrix.io"]),
    ("<a href='mailto:x.y@proton.me'>", ["x.y@proton.me"]),
    ("to = 'jane@gmail.com'", ["jane@gmail.com"]),            # single-quoted
    ("`bob_99@acme.io` and (carl@web.de)", ["bob_99@acme.io", "carl@web.de"]),
    ("--jane@gmail.com", ["jane@gmail.com"]),                  # leading punctuation is not the address
])
def test_personal_emails_are_found(text, want):
    assert _found(text, find_emails) == want


@pytest.mark.parametrize("text", [
    "brew install python@2.7", "npm i lodash@4.17.21", "uses: actions/checkout@v4", "<img src='logo@2x.png'>",
    "git clone git@github.com:org/repo.git", "ssh://git@gitlab.com/org/repo.git", "User(email='bob@example.com')",
    "to = 'ann@test.example'", "fmt = '%s@%s.com'", "'{user}@{domain}'", "@property", "@media screen",
    "user@localhost", "docker pull image@sha256:abcd", "x" * 70 + "@gmail.com",   # over 64: no address
])
def test_email_lookalikes_survive(text):
    assert find_emails(text) == []


@pytest.mark.parametrize("text, want", [
    ('SERVER = "52.14.33.101"', ["52.14.33.101"]),
    ("proxy_pass http://3.120.7.19:8080;", ["3.120.7.19"]),
    ('81.2.69.160 - - [02/Mar/2024] "GET / HTTP/1.1" 200', ["81.2.69.160"]),
    ("listen [2a01:4f8:c2c:123f::1]:443;", ["2a01:4f8:c2c:123f::1"]),
    ("peer 2a00:1450:4001:82a::200e.", ["2a00:1450:4001:82a::200e"]),      # sentence-final dot
    ("x 1.2.3.4.5 then 81.2.69.160", ["81.2.69.160"]),                    # after a longer dotted number
    ("ping 1.2.3.4", ["1.2.3.4"]),
    ("  - cidr: 80.240.159.33/32", ["80.240.159.33"]),        # a /32 is one host                       # single-digit quad with an address word
    ("# observer: 52.14.33.101", ["52.14.33.101"]),   # "ver" inside a word is no version
])
def test_public_ips_are_found(text, want):
    assert _found(text, find_ips) == want


@pytest.mark.parametrize("text", [
    "host = '127.0.0.1'", "bind 0.0.0.0", "gateway 192.168.1.1", "10.20.30.40", "172.16.5.4", "::1",
    "fe80::1ff:fe23:4567:890a", "fd12:3456:789a::1", "# e.g. 192.0.2.10 or 198.51.100.7 or 203.0.113.9",
    "2001:db8::8a2e:370:7334", "nameserver 8.8.8.8", "netmask 255.255.255.0", "100.64.0.1", "224.0.0.251",
    '__version__ = "1.2.3.4"', 'AssemblyVersion("2.14.87.201")', "v1.2.3.4", "OID 1.3.6.1.4.1.2021.10",
    "1.2.3.4.5", "started at 12:30:45", "hwaddr 00:1a:2b:3c:4d:5e", "std::vector<int>", "a::b::c",
    "release 4.19.128.2", "-typing-extensions==3.10.0.2", "pkg>=3.10.0.0", "ipaddress.ip_network('52.14.0.0/16')",
])
def test_ip_lookalikes_survive(text):
    assert find_ips(text) == []


def test_ip_placeholders_keep_family_and_port():
    out, counts = redact_text("a = 'http://52.14.33.101:8080' b = '[2a01:4f8::7]:443'")
    assert out == "a = 'http://10.0.0.1:8080' b = '[fd00::1]:443'"
    assert counts == {"ip": 2}
