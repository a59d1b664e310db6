"""Keys and passwords: provider formats through detect-secrets' plugins, the spans replaced, the guards."""
import base64
import json

import pytest

from pipelines.redact import find, redact_text
from pipelines.redact.credentials import find_secrets

# Built at run time from pieces so no scanner mistakes this file for a leak.
B = "Zq7Xk2Lm9Np4Rt6Vw8Yb"


def _kinds(text):
    return [(text[s.start:s.end], s.kind) for s in find(text)]


@pytest.mark.parametrize("line, secret", [
    ('aws_access_key_id = "AKIA' + "Q3X7ZP2LMN4RT6WB" + '"', "AKIA" + "Q3X7ZP2LMN4RT6WB"),
    ('aws_secret_access_key = "' + B + "/K7MDENG+bPxRfiCYzEXQ" + '"', B + "/K7MDENG+bPxRfiCYzEXQ"),
    ("GOOGLE_API_KEY=AIza" + B + "abcdefGHIJKLMNOp1", "AIza" + B + "abcdefGHIJKLMNOp1"),
    ("token: ghp_" + B + "0123aBcDeFgHiJkLmN", "ghp_" + B + "0123aBcDeFgHiJkLmN"),
    ("GITLAB=glpat-" + B, "glpat-" + B),
    ("SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-" + B[:12] + "abcdefghijkl", None),
    ("stripe.api_key = 'sk_live_" + B + "Ab12'", "sk_live_" + B + "Ab12"),
    ("stripe.api_key = 'sk_test_" + B + "Ab12'", "sk_test_" + B + "Ab12"),
    ("OPENAI_API_KEY=sk-proj-" + B + "T3BlbkFJ" + B, "sk-proj-" + B + "T3BlbkFJ" + B),
    ("HF_TOKEN=hf_" + "ZqXkLmNpRtVwYbQaZqXkLmNpRtVwYbQaZq", "hf_" + "ZqXkLmNpRtVwYbQaZqXkLmNpRtVwYbQaZq"),
    ("bot = telebot.TeleBot('541679686:AACBHnk_B_zDV1Ew4XqEoa70SPyRmrU8gR9')",
     "541679686:AACBHnk_B_zDV1Ew4XqEoa70SPyRmrU8gR9"),
    ("NPM_TOKEN=npm_" + B + "0123456789abcdef", "npm_" + B + "0123456789abcdef"),
    ("conn = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + (B * 5)[:86] + "==;'",
     (B * 5)[:86] + "=="),
    ("SECRET_KEY = 'django-insecure-" + B + "k3@4!x'", None),
    ("Authorization: Bearer " + B + "Q9w8E7r6", B + "Q9w8E7r6"),
])
def test_provider_keys_are_replaced_whole(line, secret):
    out, counts = redact_text(line)
    assert counts.get("key") == 1, (line, out)
    if secret:
        assert secret not in out and "<KEY>" in out and out == line.replace(secret, "<KEY>")


def test_jwt_is_replaced_with_its_signature():
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    token = f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': '42'})}.{B}abc-_XYZ"
    out, counts = redact_text(f"headers = {{'Authorization': 'Bearer {token}'}}")
    assert counts == {"key": 1} and out == "headers = {'Authorization': 'Bearer <KEY>'}"


@pytest.mark.parametrize("escaped", [False, True])
def test_private_key_body_is_replaced_headers_kept(escaped):
    nl = "\\n" if escaped else "\n"
    body = nl.join([B * 3 + "abcd"] * 4 + ["Qm9keQ=="])
    text = f'"private_key": "-----BEGIN RSA PRIVATE KEY-----{nl}{body}{nl}-----END RSA PRIVATE KEY-----"'
    out, counts = redact_text(text)
    assert counts == {"key": 1}
    assert out == f'"private_key": "-----BEGIN RSA PRIVATE KEY-----{nl}<KEY>{nl}-----END RSA PRIVATE KEY-----"'


@pytest.mark.parametrize("line, secret", [
    ('password = "s3cr3tP@ss"', "s3cr3tP@ss"),
    ("DB_PASSWORD=hunter22x", "hunter22x"),
    ("  POSTGRES_PASSWORD: Velvet8812!", "Velvet8812!"),
    ('conn = psycopg2.connect(host="db", password="Gq#5NbHN01XtD")', "Gq#5NbHN01XtD"),
    ("postgres://admin:Xy7pq9Lm@db.acme.io:5432/app", "Xy7pq9Lm"),
    ("mysql://root:Quartz493#@api.zentrix.de:3306/shop", "Quartz493#"),
    ("  password: '*7TbxOzX55OIU*',", "*7TbxOzX55OIU*"),
    ("WARN retrying with smtp_password=velvet461", "velvet461"),
    ("spring.datasource.password=acSVtcyPBiHsTh", "acSVtcyPBiHsTh"),        # letters only, but not a name
    ("docker run -e MYSQL_ROOT_PASSWORD=!IkFFZwNgxdJ mysql:8", "!IkFFZwNgxdJ"),
    ('<property name="password" value="Winter6577"/>', "Winter6577"),
    ("define('DB_PASSWORD', 'Dragon64465');", "Dragon64465"),
    ("jdbc:postgresql://db:5432/app?user=app&password=E2V197UMmtNo41", "E2V197UMmtNo41"),
    ("redis://:Zq7Xk2Lm9Np4Rt6Vw8Yb@cache.acme-corp.io:6379/0", "Zq7Xk2Lm9Np4Rt6Vw8Yb"),
])
def test_passwords_are_replaced(line, secret):
    out, counts = redact_text(line)
    assert counts == {"password": 1}, (line, out)
    assert out == line.replace(secret, "<PASSWORD>")


@pytest.mark.parametrize("line", [
    'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"',
    'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    'expected_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    "digest = hashlib.md5(data).hexdigest()  # 5d41402abc4b2a76b9719d911017c592",
    'request_id = "123e4567-e89b-12d3-a456-426614174000"',
    'password = os.environ["DB_PASSWORD"]', "password = getpass.getpass()", 'api_key: "${API_KEY}"',
    'api_key = "<your-api-key>"', "PASSWORD=changeme", 'password = ""', 'field = "confirm_password"',
    'msg = "Enter your password"', 'key_name = "SECRET_KEY"', "password = password", "password: str",
    "token = request.headers['X-Token']", "SECRET_KEY = os.getenv('SECRET_KEY')",
    '      "integrity": "sha512-' + B * 4 + '==",',
    "// from jwt.io: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ij"
    "oxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "-----BEGIN PUBLIC KEY-----\n" + B * 3 + "\n-----END PUBLIC KEY-----",
    "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
    't("login.password.label")', "return genai.Client(api_key=self.api_key)", "connect(password=cfg.db_pass)",
    "mock.assert_called_once_with(api_key='test-key-123')", 'pkey = r"HARDWARE\\DESCRIPTION\\System\\Central"',
    '("ssh://user:pass%20word@example.com/pkg.zip", "")', "password: !vault |", "password: !Ref DbPassword",
    "password = dbPassword", "  password: db_password", "}, {passive: false});", "passthrough = Xy7pq9Lm2", "password_hash = make_hash(pw)", 'cache_key = "user_settings_v2"',
])
def test_secret_lookalikes_survive(line):
    assert find_secrets(line) == [], find_secrets(line)


def test_long_minified_line_is_scanned_in_windows():
    filler = "a=1;" * 20000
    text = filler + 'var api_key="' + B + 'Q9w8E7r6";' + filler
    out, counts = redact_text(text)
    assert counts == {"key": 1} and out == text.replace(B + "Q9w8E7r6", "<KEY>")


def test_dense_assignments_on_one_huge_line_are_all_found_in_bounded_windows():
    from pipelines.redact.credentials import MAX_WINDOW, _lower, _windows
    text = "password = 'Xy7pq9Lm' " * 3000   # one 66 kB line, a keyword every 22 characters
    windows = list(_windows(text, _lower(text)))
    assert len(windows) > 1 and all(hi - lo <= MAX_WINDOW for lo, hi, _ in windows)
    out, counts = redact_text(text)
    assert counts == {"password": 3000} and out == "password = '<PASSWORD>' " * 3000
