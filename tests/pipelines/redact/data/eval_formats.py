"""More real formats for the evaluation set (imported by generate_eval.py): one line each, `{}` the span.

Written from the formats' documentation before the redactor was run on them; the first score of the
held-out half on these is recorded in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import base64
import json
import random
import string

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"


def rs(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def _pw(r: random.Random) -> str:
    return r.choice([rs(r, ALNUM, 14), rs(r, ALNUM + "!@#$%^&*", 12).replace("@", "#"),
                     r.choice(["Winter", "summer", "Dragon", "monkey"]) + str(r.randrange(1000, 99999))])


def _jwt(r: random.Random) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()  # noqa: E731
    return (enc({"alg": "RS256", "kid": rs(r, HEX, 8)}) + "." + enc({"iss": "auth", "exp": 1.8e9 + r.randrange(9999)})
            + "." + rs(r, ALNUM + "-_", 86))


# (kind, template, value maker)
POSITIVE = [
    ("email", "<developer><email>{}</email></developer>", None),
    ("email", "Jane Roe <{}> J. Roe <jroe@old-host.invalid>", None),          # .mailmap
    ("email", "Reported-by: {}", None),
    ("email", "<a href=\"mailto:{}\">write to us</a>", None),
    ("email", "id,name,email\n17,Kim,{}", None),
    ("email", "git config --global user.email \"{}\"", None),
    ("email", "# Questions? {} (on-call this week)", None),
    ("ip", "iptables -A INPUT -s {} -j DROP", "v4"),
    ("ip", "{}\tbuild-runner-07", "v4"),                                         # /etc/hosts
    ("ip", "  - cidr: {}/32", "v4"),
    ("ip", "Failed password for root from {} port 52144 ssh2", "v4"),
    ("ip", "ALLOWED_IPS = [\"{}\"]", "v6"),
    ("ip", "curl -H 'X-Forwarded-For: {}' http://localhost/", "v4"),
    ("key", "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=core.windows.net",
     lambda r: rs(r, B64, 86) + "=="),
    ("key", "SLACK_WEBHOOK=https://hooks.slack.com/services/{}",
     lambda r: f"T{rs(r, string.ascii_uppercase + string.digits, 8)}/B{rs(r, string.ascii_uppercase + string.digits, 8)}/{rs(r, ALNUM, 24)}"),
    ("key", "ANTHROPIC_API_KEY={}", lambda r: "sk-ant-api03-" + rs(r, ALNUM + "-_", 93) + "AA"),
    ("key", "  \"private_key_id\": \"{}\",", lambda r: rs(r, HEX, 40)),
    ("key", "TWILIO_AUTH_TOKEN = '{}'", lambda r: rs(r, HEX, 32)),
    ("key", "twilio_client = Client('{}', auth_token)", lambda r: "AC" + rs(r, HEX, 32)),
    ("key", "//registry.npmjs.org/:_authToken={}", lambda r: "npm_" + rs(r, ALNUM, 36)),
    ("key", "password = {}", lambda r: "pypi-AgEIcHlwaS5vcmc" + rs(r, ALNUM + "-_", r.randrange(140, 200))),   # ~/.pypirc
    ("key", "Authorization: Bearer {}", _jwt),
    ("key", "docker run -e STRIPE_KEY={} shop:latest", lambda r: "rk_live_" + rs(r, ALNUM, 24)),
    ("key", "terraform: access_key = \"{}\"", lambda r: "AKIA" + rs(r, string.ascii_uppercase + "234567", 16)),
    ("key", "client_secret: {}", lambda r: "GOCSPX-" + rs(r, ALNUM + "-_", 28)),
    ("key", "export GITHUB_TOKEN={}", lambda r: "gho_" + rs(r, ALNUM, 36)),
    ("key", "bot = telebot.TeleBot(\"{}\")", lambda r: f"{r.randrange(10**8, 10**9)}:AA{rs(r, ALNUM + '-_', 33)}"),
    ("key", "MAILCHIMP_KEY = \"{}\"", lambda r: rs(r, HEX, 32) + f"-us{r.randrange(1, 20)}"),
    ("password", "spring.datasource.password={}", _pw),
    ("password", "<property name=\"password\" value=\"{}\"/>", _pw),
    ("password", "define('DB_PASSWORD', '{}');", _pw),
    ("password", "jdbc:postgresql://db.acme-corp.io:5432/app?user=app&password={}", _pw),
    ("password", "docker run -e MYSQL_ROOT_PASSWORD={} mysql:8", _pw),
    ("password", "[client]\npassword = {}", _pw),
    ("password", "redis://:{}@cache.acme-corp.io:6379/0", lambda r: rs(r, ALNUM, 20)),
    ("password", "  \"db_pass\": \"{}\",", _pw),
]

LOOKALIKE = [
    ("java-annotation", "@Override public String {}() {{", lambda r: "getPassword"),
    ("semver-range", "\"dependencies\": {{\"react\": \"{}\"}}", lambda r: f"^{r.randrange(16, 19)}.{r.randrange(9)}.{r.randrange(9)}"),
    ("k8s-ref", "        secretKeyRef: {{name: db, key: {}}}", lambda r: "password"),
    ("vault-ref", "password: {}", lambda r: "!vault |"),
    ("lockfile-hash", "  resolved \"https://registry.yarnpkg.com/x/-/x-1.0.0.tgz#{}\"", lambda r: rs(r, HEX, 40)),
    ("git-log", "Merge: {} 1a2b3c4", lambda r: rs(r, HEX, 7)),
    ("pip-hash", "    --hash=sha256:{}", lambda r: rs(r, HEX, 64)),
    ("docker-digest", "FROM python:3.12-slim@sha256:{}", lambda r: rs(r, HEX, 64)),
    ("css-hex", "color: {};", lambda r: "#" + rs(r, HEX, 6)),
    ("gpg-fingerprint", "gpg --recv-keys {}", lambda r: rs(r, HEX.upper(), 40)),
    ("base64-image", "<img src=\"data:image/gif;base64,{}\">", lambda r: "R0lGODlh" + rs(r, B64, 40)),
    ("password-param", "def login(username: str, {}: str) -> bool:", lambda r: "password"),
    ("form-label", "<label for=\"password\">{}</label>", lambda r: "Password"),
    ("sql-column", "ALTER TABLE users ADD COLUMN {} VARCHAR(255);", lambda r: "password_hash"),
    ("example-ip6", "ping6 {}", lambda r: f"2001:db8:{r.randrange(1, 0xffff):x}::1"),
    ("localhost-url", "DATABASE_URL=postgres://postgres:postgres@{}:5432/dev", lambda r: "localhost"),
    ("email-in-code-obfuscated", "# mail: {}", lambda r: "jane [at] acme-corp [dot] io"),
    ("scoped-pkg", "import {{ Component }} from '{}';", lambda r: "@angular/core"),
    ("version-4", "Microsoft.NET.Sdk/{}", lambda r: f"{r.randrange(5, 9)}.0.{r.randrange(100, 400)}.{r.randrange(1, 9)}"),
    ("ipv4-in-version-string", "User-Agent: Mozilla/5.0 Chrome/{} Safari", lambda r: f"1{r.randrange(10, 25)}.0.{r.randrange(1000, 6000)}.{r.randrange(10, 200)}"),
    ("uuid-key", "cache_key = \"{}\"", lambda r: "-".join(rs(r, HEX, n) for n in (8, 4, 4, 4, 12))),
    ("env-template", "API_KEY=${{{}}}", lambda r: "API_KEY"),
    ("test-fixture", "fake_token = \"{}\"", lambda r: "test-token-" + rs(r, string.digits, 6)),
]


