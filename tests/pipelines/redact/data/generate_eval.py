"""Seeded generator of the PII/secret evaluation set (run: python tests/pipelines/redact/data/generate_eval.py).

Writes pii_eval_dev.jsonl (seed 1, used while building the guards) and pii_eval_test.jsonl (seed 2,
held out: generated once, scored, never tuned on) next to this file. Each line is one document
{"id", "context", "text", "spans": [{"start", "end", "kind"}], "lookalikes": [{"start", "end", "what"}]}:
positives are secrets, e-mails and public IPs in the formats real providers and tools use (random
bodies, right alphabets and lengths), placed in code, config, .env, commit, notebook, log and
markdown contexts; look-alikes are strings a redactor must leave alone (versions, private and
documentation addresses, hashes in hashing code, UUIDs, placeholders, documented fakes, templates).
Nothing here is a real credential.
"""
from __future__ import annotations

import base64
import json
import os
import random
import string
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_formats  # noqa: E402  (the file next to this one)

FIRST = "anna ben carla dmitri elena farid grace hiro ines jonas kofi lena marco nadia omar priya quinn rosa sven tara".split()
LAST = "schmidt okafor tanaka garcia novak lindqvist haddad moreau kowalski silva chen brennan".split()
MAIL_DOMAINS = ["gmail.com", "outlook.com", "proton.me", "yahoo.co.uk", "web.de", "fastmail.fm", "acme-corp.io",
                "zentrix.de", "northwind.com", "lab.uni-heidelberg.de", "cs.stanford.edu", "mail.ru"]
HOSTS = ["db.acme-corp.io", "api.zentrix.de", "prod-cache-3.northwind.com", "10.0.3.12", "mq.internal"]
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"


class Doc:
    def __init__(self, context: str):
        self.context, self.parts, self.spans, self.looks, self.size = context, [], [], [], 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def put(self, value: str, kind: str | None = None, what: str | None = None) -> None:
        start = self.size
        self.add(value)
        if kind:
            self.spans.append({"start": start, "end": self.size, "kind": kind})
        else:
            self.looks.append({"start": start, "end": self.size, "what": what})

    def line(self, template: str, value: str, kind: str | None = None, what: str | None = None) -> None:
        before, after = template.split("{}", 1)
        self.add(before)
        self.put(value, kind, what)
        self.add(after + "\n")


def rs(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def public_ipv4(r: random.Random) -> str:
    import ipaddress
    while True:
        ip = ipaddress.IPv4Address(r.getrandbits(32))
        s = str(ip)
        if ip.is_global and not ip.is_multicast and s not in ("8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9") \
                and not all(len(p) == 1 for p in s.split(".")):
            return s


def public_ipv6(r: random.Random) -> str:
    import ipaddress
    while True:
        ip = ipaddress.IPv6Address((0x2A00 + r.randrange(0x1FF) << 112) | r.getrandbits(80))
        if ip.is_global:
            return str(ip)


def email(r: random.Random) -> str:
    f, l = r.choice(FIRST), r.choice(LAST)
    local = r.choice([f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}{r.randrange(100)}", f"{f}+dev", l])
    return f"{local}@{r.choice(MAIL_DOMAINS)}"


def password(r: random.Random) -> str:
    word = r.choice(["Sunset", "falcon", "Marigold", "orbit", "Quartz", "tundra", "Velvet", "harbor"])
    return r.choice([f"{word}{r.randrange(10, 9999)}{r.choice('!#%&*?')}", rs(r, ALNUM + "!#%^*", r.randrange(10, 20)),
                     f"{word.lower()}{r.randrange(100, 999)}", rs(r, ALNUM, 16)])


def jwt(r: random.Random) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()   # noqa: E731
    header = enc({"alg": r.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = enc({"sub": str(r.randrange(10**6)), "name": r.choice(FIRST), "iat": 1700000000 + r.randrange(10**7)})
    return f"{header}.{payload}.{rs(r, ALNUM + '-_', 43)}"


def pem_body(r: random.Random, escaped: bool) -> str:
    lines = [rs(r, B64, 64) for _ in range(r.randrange(4, 9))] + [rs(r, B64, 20) + "=="]
    return ("\\n" if escaped else "\n").join(lines)


def key_value(r: random.Random) -> tuple[str, str]:
    """(name, value) of a provider key in its real format."""
    kind = r.randrange(14)
    return [
        ("aws_access_key_id", "AKIA" + rs(r, UPPER_DIGITS, 16)),
        ("aws_secret_access_key", rs(r, B64, 40)),
        ("GOOGLE_API_KEY", "AIza" + rs(r, ALNUM + "-_", 35)),
        ("GITHUB_TOKEN", "ghp_" + rs(r, ALNUM, 36)),
        ("GH_PAT", "github_pat_" + rs(r, ALNUM, 22) + "_" + rs(r, ALNUM, 59)),
        ("GITLAB_TOKEN", "glpat-" + rs(r, ALNUM + "-_", 20)),
        ("SLACK_BOT_TOKEN", f"xoxb-{r.randrange(10**11, 10**12)}-{r.randrange(10**12, 10**13)}-{rs(r, ALNUM, 24)}"),
        ("STRIPE_SECRET_KEY", r.choice(["sk_live_", "rk_live_", "sk_test_"]) + rs(r, ALNUM, 24)),
        ("OPENAI_API_KEY", "sk-proj-" + rs(r, ALNUM, 20) + "T3BlbkFJ" + rs(r, ALNUM, 20)),
        ("auth_token", jwt(r)),
        ("SENDGRID_API_KEY", "SG." + rs(r, ALNUM + "-_", 22) + "." + rs(r, ALNUM + "-_", 43)),
        ("NPM_TOKEN", "npm_" + rs(r, ALNUM, 36)),
        ("HF_TOKEN", "hf_" + rs(r, string.ascii_letters, 34)),
        ("api_key", rs(r, string.ascii_lowercase + string.digits, 32)),
    ][kind]


def positives(r: random.Random, d: Doc) -> None:
    """One positive span in the document's context."""
    c, which = d.context, r.randrange(10)
    if which < 2:
        e = email(r)
        d.line({"python": "__author__ = \"{}\"", "js": "  \"author\": \"Dev <{}>\",", "yaml": "maintainer: {}",
                "env": "ADMIN_EMAIL={}", "commit": "Signed-off-by: Dev Person <{}>",
                "notebook": "    \"# contact: {} for access\\n\",", "markdown": "Mail me at {} if it breaks.",
                "log": "2024-03-02 12:00:01 INFO sent reset link to {}"}[c], e, "email")
    elif which < 4:
        ip = public_ipv6(r) if r.random() < 0.25 else public_ipv4(r)
        d.line({"python": "SERVER_HOST = \"{}\"", "js": "const upstream = 'http://{}:8080';",
                "yaml": "  host: {}", "env": "REDIS_HOST={}", "commit": "+    proxy_pass http://{}:3000;",
                "notebook": "    \"Connecting to {} ...\\n\",", "markdown": "ssh into `{}` and restart the worker.",
                "log": "{} - - [02/Mar/2024:12:00:01 +0000] \"GET /login HTTP/1.1\" 200 512"}[c], ip, "ip")
    elif which < 7:
        name, value = key_value(r)
        d.line({"python": name.lower() + " = \"{}\"", "js": "const " + name + " = '{}';", "yaml": "  " + name.lower() + ": {}",
                "env": name.upper() + "={}", "commit": "+" + name.upper() + "=\"{}\"",
                "notebook": "    \"" + name.lower() + " = '{}'\\n\",", "markdown": "export " + name.upper() + "={}",
                "log": "DEBUG using " + name.lower() + "={} for request"}[c], value, "key")
    elif which < 8:
        body = pem_body(r, c in ("notebook", "js"))
        nl = "\\n" if c in ("notebook", "js") else "\n"
        kind = r.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
        d.add({"notebook": "    \"private_key\": \"", "js": "  \"private_key\": \""}.get(c, "") + f"-----BEGIN {kind}-----{nl}")
        d.put(body, "key")
        d.add(f"{nl}-----END {kind}-----" + ("\",\n" if c in ("notebook", "js") else "\n"))
    else:
        pw, host = password(r), r.choice(HOSTS)
        d.line({"python": r.choice(["password = \"{}\"", "DB_PASS = '{}'", "conn = psycopg2.connect(host=\"db\", password=\"{}\")"]),
                "js": "  password: '{}',", "yaml": "  POSTGRES_PASSWORD: {}", "env": "DB_PASSWORD={}",
                "commit": "+  \"password\": \"{}\",", "notebook": "    \"engine = create_engine('postgresql://etl:{}@" + host + "/dw')\\n\",",
                "markdown": "mysql://root:{}@" + host + ":3306/shop", "log": "WARN retrying with smtp_password={}"}[c],
               pw, "password")


LOOKALIKES = [
    ("version", lambda r: f"{r.randrange(1, 9)}.{r.randrange(10)}.{r.randrange(10)}.{r.randrange(10)}", "__version__ = \"{}\""),
    ("version", lambda r: f"{r.randrange(1, 4)}.{r.randrange(30)}.{r.randrange(100)}.{r.randrange(1000)}", "AssemblyVersion(\"{}\")"),
    ("oid", lambda r: f"1.3.6.1.4.1.{r.randrange(40000)}.{r.randrange(10)}", "OID = \"{}\""),
    ("private-ip", lambda r: f"192.168.{r.randrange(256)}.{r.randrange(1, 255)}", "gateway = \"{}\""),
    ("private-ip", lambda r: f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}", "  host: {}"),
    ("private-ip", lambda r: f"172.{r.randrange(16, 32)}.{r.randrange(256)}.{r.randrange(1, 255)}", "DOCKER_SUBNET={}"),
    ("loopback", lambda r: r.choice(["127.0.0.1", "::1", "0.0.0.0", "localhost"]), "app.run(host=\"{}\", port=5000)"),
    ("doc-ip", lambda r: r.choice(["192.0.2.", "198.51.100.", "203.0.113."]) + str(r.randrange(1, 255)), "# e.g. {}"),
    ("doc-ip", lambda r: f"2001:db8::{r.randrange(1, 0xffff):x}", "listen [{}]:443;"),
    ("resolver", lambda r: r.choice(["8.8.8.8", "1.1.1.1", "9.9.9.9", "8.8.4.4"]), "nameserver {}"),
    ("netmask", lambda r: r.choice(["255.255.255.0", "255.255.0.0", "255.255.255.252"]), "netmask {}"),
    ("time", lambda r: f"{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}", "started at {}"),
    ("mac", lambda r: ":".join(f"{r.randrange(256):02x}" for _ in range(6)), "hwaddr {}"),
    ("cpp", lambda r: r.choice(["std::vector<int>", "boost::asio::ip", "a::b::c"]), "using {};"),
    ("python-at", lambda r: f"python@{r.choice(['2.7', '3.11', '3.12'])}", "brew install {}"),
    ("npm-version", lambda r: f"{r.choice(['lodash', 'react', '@types/node'])}@{r.randrange(1, 20)}.{r.randrange(20)}.{r.randrange(9)}", "npm i {}"),
    ("action-ref", lambda r: f"actions/{r.choice(['checkout', 'setup-python'])}@v{r.randrange(2, 6)}", "      - uses: {}"),
    ("retina", lambda r: f"{r.choice(['logo', 'icon', 'hero'])}@{r.randrange(2, 4)}x.png", "<img src=\"img/{}\">"),
    ("git-ssh", lambda r: f"git@{r.choice(['github.com', 'gitlab.com', 'bitbucket.org'])}:{r.choice(LAST)}/tool.git", "git clone {}"),
    ("doc-email", lambda r: f"{r.choice(FIRST)}@{r.choice(['example.com', 'example.org', 'test.example', 'foo.test'])}", "user = User(email=\"{}\")"),
    ("template-email", lambda r: r.choice(["%s@%s.com", "{user}@{domain}", "${USER}@${HOST}"]), "addr = \"{}\""),
    ("decorator", lambda r: r.choice(["@property", "@staticmethod", "@app.route('/')"]), "    {}"),
    ("aws-example", lambda r: r.choice(["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]), "aws_access_key_id = {}"),
    ("hash", lambda r: rs(r, "0123456789abcdef", 64), "expected_sha256 = \"{}\""),
    ("hash", lambda r: rs(r, "0123456789abcdef", 32), "digest = hashlib.md5(data).hexdigest()  # {}"),
    ("commit-sha", lambda r: rs(r, "0123456789abcdef", 40), "commit {}"),
    ("uuid", lambda r: str(uuid.UUID(int=r.getrandbits(128))), "request_id = \"{}\""),
    ("env-ref", lambda r: r.choice(["os.environ[\"DB_PASSWORD\"]", "os.getenv(\"API_KEY\")", "getpass.getpass()"]), "password = {}"),
    ("template", lambda r: r.choice(["${DB_PASSWORD}", "{{ secrets.API_KEY }}", "<your-api-key>", "%(password)s"]), "api_key: \"{}\""),
    ("placeholder", lambda r: r.choice(["changeme", "xxxxxxxx", "********", "your_password_here", "password"]), "PASSWORD={}"),
    ("field-name", lambda r: r.choice(["confirm_password", "new_password", "password_hash"]), "field = \"{}\""),
    ("prompt", lambda r: r.choice(["Enter your password", "Password must be 8 characters", "Invalid API key"]), "msg = \"{}\""),
    ("env-name", lambda r: r.choice(["SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "STRIPE_API_KEY"]), "key_name = \"{}\""),
    ("jwt-sample", lambda r: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "// from jwt.io: {}"),
    ("integrity", lambda r: "sha512-" + rs(r, B64, 86) + "==", "      \"integrity\": \"{}\","),
    ("data-uri", lambda r: "data:image/png;base64," + rs(r, B64, 60), "background: url({});"),
    ("public-key", lambda r: "ssh-rsa AAAAB3NzaC1yc2E" + rs(r, B64, 60) + " deploy@buildbox", "{}"),
    ("cache-key", lambda r: "v1-deps-{{ checksum \"package-lock.json\" }}", "key: {}"),
    ("i18n-key", lambda r: r.choice(["login.password.label", "settings.api_key.help"]), "t(\"{}\")"),
    ("date", lambda r: f"{r.randrange(2000, 2030)}.{r.randrange(1, 13):02d}.{r.randrange(1, 29):02d}", "released {}"),
]

CONTEXTS = {
    "python": ("import os\nimport hashlib\n\n", "\n\ndef main():\n    return 0\n"),
    "js": ("'use strict';\nconst config = {\n", "};\nmodule.exports = config;\n"),
    "yaml": ("version: '3.8'\nservices:\n  app:\n    environment:\n", "    restart: always\n"),
    "env": ("# local settings\nDEBUG=false\n", "LOG_LEVEL=info\n"),
    "commit": ("commit 3f2a9c1d\nAuthor: Build Bot <bot@ci.invalid>\n\n    update deploy settings\n\n"
               "diff --git a/deploy.conf b/deploy.conf\n--- a/deploy.conf\n+++ b/deploy.conf\n@@ -1,3 +1,4 @@\n", ""),
    "notebook": ("{\n \"cells\": [\n  {\n   \"cell_type\": \"code\",\n   \"source\": [\n", "   ]\n  }\n ]\n}\n"),
    "markdown": ("## Deploying\n\nSteps that worked for me:\n\n", "\nHope this helps.\n"),
    "log": ("[boot] service starting\n", "[boot] ready\n"),
}


def _line_braced(d: Doc, template: str, value: str, what: str) -> None:
    """A look-alike line whose template writes literal braces as {{ }} (str.format style)."""
    before, after = template.split("{}", 1)
    d.line(before.replace("{{", "{").replace("}}", "}") + "{}" + after.replace("{{", "{").replace("}}", "}"),
           value, what=what)


def make(seed: int, docs: int) -> list[dict]:
    r = random.Random(seed)
    out = []
    for i in range(docs):
        context = r.choice(sorted(CONTEXTS))
        d = Doc(context)
        head, tail = CONTEXTS[context]
        d.add(head)
        for _ in range(r.randrange(2, 6)):
            roll = r.random()
            if roll < 0.3:
                positives(r, d)
            elif roll < 0.5:
                kind, template, maker = r.choice(eval_formats.POSITIVE)
                value = (email(r) if kind == "email" else public_ipv6(r) if maker == "v6" else public_ipv4(r)
                         if kind == "ip" else maker(r))
                d.line(template, value, kind)
            elif roll < 0.75:
                what, gen, template = r.choice(LOOKALIKES)
                d.line(template, gen(r), what=what)
            else:
                what, template, maker = r.choice(eval_formats.LOOKALIKE)
                _line_braced(d, template, maker(r), what)
        d.add(tail)
        out.append({"id": f"s{seed}-{i:04d}", "context": context, "text": "".join(d.parts),
                    "spans": d.spans, "lookalikes": d.looks})
    return out


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    for name, seed in (("dev", 1), ("test", 2)):
        path = os.path.join(here, f"pii_eval_{name}.jsonl")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            for row in make(seed, 300):
                f.write(json.dumps(row, sort_keys=True) + "\n")
        os.replace(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
