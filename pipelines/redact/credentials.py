"""Secrets in code, configs and diffs: Yelp's `detect-secrets` plugins, a cheap pre-screen, and guards.

The maintained detector does the recognising: its provider plugins (AWS, Azure storage, GitHub,
GitLab, Slack, Stripe, OpenAI, JWT, SendGrid, npm, PyPI, Twilio, Mailchimp, Square, Telegram), its
private-key header, URL credentials (BasicAuth) and `KeywordDetector` (values assigned to password /
secret / api_key / ... names, quoted in code, unquoted in config lines), and its entropy plugins where
a key is expected. Added here only what it has no plugin for (GCP API keys `AIza...`, GitHub
fine-grained `github_pat_...`, Stripe test-mode keys, Anthropic, Hugging Face and Google OAuth
client secrets, values assigned to *token* names) and the span handling it does not do (whole
private-key bodies, full JWTs, keys longer than the plugin's fixed length).

Speed: a pre-screen (Aho-Corasick over the lower-cased document for all TRIGGERS at once) finds the
few windows (a line, at most WINDOW characters either side of a hit) worth scanning; each plugin runs
only on windows that hold its trigger strings, the keyword rules only where a secret-sounding name is
assigned (the GATE patterns). A document without any hit costs a lower() and one automaton pass.

Kept (false-positive guards): values that are templates or references (`${DB_PASS}`, `{{ x }}`,
`os.environ["X"]`, `get_secret()`), placeholders (`changeme`, `<your-key>`, `xxxx`, `****`, well-known
defaults such as `postgres`), identifiers and environment-variable names, prose with spaces,
hex digests and UUIDs (on a line that hashes, `sha256 = "..."`, or anywhere for UUIDs), sequential
strings, and documented fakes: any value containing EXAMPLE/example/dummy/fake/sample (AWS's own
`AKIAIOSFODNN7EXAMPLE`) and the jwt.io sample token (FIXTURES).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator

import ahocorasick
from detect_secrets.filters import heuristic
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import (CONFIG_DENYLIST_REGEX_TO_GROUP, QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
                                            KeywordDetector)
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from pipelines.redact.pii import DOC_DOMAINS, DOC_SUFFIXES
from pipelines.redact.spans import Span

WINDOW = 256        # characters either side of a pre-screen hit that a plugin sees (bounds minified lines)
MAX_WINDOW = 1024   # longest merged window (detectors' regexes stay linear in the document)

# Pre-screen: lower-case trigger strings, looked for with str.find on the lower-cased document (C speed);
# a window is scanned only around a hit. Every provider prefix, every keyword a rule below needs.
TRIGGERS = ("key", "pass", "pwd", "secret", "token", "contrase", "credential", "bearer", "aws", "twilio",
            "accountkey", "t3blbkfj", "glsoat-", "glcbt-", ":aa", "akia", "asia", "abia", "acca", "a3t", "aiza", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
            "github_pat_", "glpat-", "gldt-", "glptt-", "glrt-", "xox", "hooks.slack.com", "k_live_", "k_test_",
            "sk-", "hf_", "eyj", "sg.", "npm_", "pypi-", "sq0", "gocspx-", "-us")
URL_WITH_USER = re.compile(r"://[^\s/@:'\"]*:[^\s'\"/]+@")
# Windows where a rule can match at all: a DENYLIST name of detect-secrets' KeywordDetector (or a
# *token* name) followed by an assignment, a comparison, an argument separator or a call's end. Python's
# `pass` statement, `dict.keys()`, `KeyError` never reach the detectors.
_ASSIGNED = r"\w*[\"'`\]]{0,2}\s*(?:[:=,)]|=>)"
KEYWORD_GATE = re.compile(r"(?:(?:api|auth|service|account|db|database|priv|private|client)_?key|pass|pwd|secret|"
                          r"contrase)" + _ASSIGNED + r"|name=[\"'][^\"']*(?:pass|pwd)")
TOKEN_GATE = re.compile(r"(?:token|credential|access_key|client_secret|bearer)" + _ASSIGNED + r"|bearer\s")
ENTROPY_GATE = re.compile(r"(?:key|secret|token|credential|bearer|signature)" + _ASSIGNED)

# Provider tokens detect-secrets 1.5 has no plugin for (each: the documented prefix and alphabet).
EXTRA_TOKENS = re.compile(
    r"AIza[0-9A-Za-z_-]{35}|github_pat_[0-9A-Za-z_]{60,}|[rs]k_test_[0-9A-Za-z]{24,}|sk-ant-[a-z]+\d\d-[0-9A-Za-z_-]{80,}"
    r"|(?<![A-Za-z0-9])hf_[A-Za-z]{34}(?![A-Za-z0-9])|GOCSPX-[0-9A-Za-z_-]{28}")
# Values assigned to *token* / credential names (detect-secrets' keyword list has no "token").
TOKEN_ASSIGNMENT = re.compile(
    r"(?i:[\w.-]*(?:token|credential|access_key|client_secret|bearer)[\w.-]*)[\"'\]]{0,2}\s*(?::=|=>|[:=]|\s)\s*"
    r"(?:[\"'`]|(?i:bearer|token)\s+)?([A-Za-z0-9_\-+/=.~]{16,})")

# URL user:password@host where the password holds characters a valid URL would percent-encode
# (detect-secrets' BasicAuth pattern wants RFC 3986 characters only; hand-written URLs often do not).
URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:([^\s'\"/]+)@([A-Za-z0-9.-]+)")
# A password name: pass, password, passwd, passphrase, passcode, pwd (not passive, passage, passthrough).
PASS = r"pass(?:w(?:or)?d|phrase|code)?(?![a-z])|pwd"
# Password settings written as data, not assignments: XML properties (Spring, Hibernate), PHP define()
# (wp-config.php).
PASSWORD_FORMS = re.compile(
    r"name=[\"'][^\"']*(?i:" + PASS + r")[^\"']*[\"']\s+value=[\"']([^\"']+)[\"']"
    r"|define\(\s*[\"'][A-Z_]*(?:PASSWORD|PASS|PWD)[A-Z_]*[\"']\s*,\s*[\"']([^\"']+)[\"']")
# Unquoted password values (config, .env, command lines) that start with a symbol.
UNQUOTED_PASSWORD = re.compile(r"(?i:[\w.-]*(?:" + PASS + r")[\w.-]*)\s*[:=]\s*([^\s\"'`]{4,128})")
# Names a programmer gives a variable: snake_case, camelCase, PascalCase, CONSTANT_CASE (no digits).
NAME_LIKE = re.compile(r"[a-z]+(?:_[a-z]+)*|_*[a-z]+(?:[A-Z][a-z]+)+|(?:[A-Z][a-z]+)+|[A-Z]+(?:_[A-Z]+)*")
# Quoted password values that start with a symbol (KeywordDetector requires a word character first).
QUOTED_PASSWORD = re.compile(r"(?i:[\w.-]*(?:" + PASS + r"|contrase)[\w.-]*)[\"'\]]{0,2}\s*(?::=|=>|[:=])\s*"
                             r"([\"'`])([^\s\"'`]{4,128})\1")

PROVIDER_PLUGINS: tuple[tuple[object, tuple[str, ...]], ...] = (
    (AWSKeyDetector(), ("akia", "asia", "abia", "acca", "a3t", "aws")),
    (AzureStorageKeyDetector(), ("accountkey",)),
    (GitHubTokenDetector(), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (GitLabTokenDetector(), ("glpat-", "gldt-", "glptt-", "glrt-", "glsoat-", "glcbt-")),
    (SlackDetector(), ("xox", "hooks.slack.com")),
    (StripeDetector(), ("k_live_",)),
    (OpenAIDetector(), ("t3blbkfj",)),
    (JwtTokenDetector(), ("eyj",)),
    (SendGridDetector(), ("sg.",)),
    (NpmDetector(), ("npm_", "token")),
    (PypiTokenDetector(), ("pypi-",)),
    (TwilioKeyDetector(), ("twilio",)),
    (MailchimpDetector(), ("-us",)),
    (SquareOAuthDetector(), ("sq0",)),
    (TelegramBotTokenDetector(), (":aa",)),   # bot tokens are <bot id>:AA<33 characters>
)
assert all(set(t) <= set(TRIGGERS) for _, t in PROVIDER_PLUGINS), "every plugin trigger must be pre-screened"
# Which rule a window needs, by the triggers found in it.
KEYWORD_TRIGGERS = frozenset({"key", "pass", "pwd", "secret", "contrase"})
TOKEN_TRIGGERS = frozenset({"token", "credential", "bearer", "key", "secret"})
EXTRA_TRIGGERS = frozenset({"aiza", "github_pat_", "k_test_", "sk-", "hf_", "gocspx-"})
KEYWORD = KeywordDetector()
BASIC_AUTH = BasicAuthDetector()
PRIVATE_KEY = PrivateKeyDetector()
BASE64 = Base64HighEntropyString()
HEX = HexHighEntropyString()

PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----((?:\\r)?\\n|\r?\n|[ \t]+)(.*?)"
    r"(?:(?:\\r)?\\n|\r?\n|[ \t]+)?(?:-----END \1-----|\Z)", re.S)
HASH_WORDS = re.compile(r"sha|md5|hash|digest|checksum|integrity|fingerprint|etag|commit|revision|crc|blake", re.I)
PASSWORD_WORDS = re.compile(PASS + r"|contrase", re.I)
KEYISH_NAME = re.compile(r"key|secret|token|credential|auth|bearer", re.I)
FAKE_MARKERS = re.compile(r"example|dummy|fake|sample|placeholder|your[_-]|xxxx|\*\*\*|redacted|changeme|"
                          r"insert[_-]|replace[_-]?me|<[^>]*>|\$\{|\{\{|%\(|%s", re.I)
# Generic values (assigned to a key/password name, no provider format) that name themselves test data.
TEST_VALUE = re.compile(r"test|mock|fake|dummy|sample|example|demo|placeholder|secret", re.I)
# An unquoted value that is a (dotted) variable reference, maybe closed by a call/index: `self.api_key)`.
REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*[)\],;]*")
PLACEHOLDER_VALUES = frozenset(
    "password passwd pass pwd secret secrets changeme change_me none null nil true false undefined test testing "
    "string str int bool bytes text required optional empty todo tbd foo bar foobar baz admin root postgres mysql "
    "guest user username default hunter2 token key apikey api_key value mypassword mysecret secretkey "
    "123456 1234 12345678 qwerty".split())
# Public documentation samples that are not anybody's secret.
FIXTURES = frozenset({
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"})
TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-]*")
JWT_CHARS = re.compile(r"[A-Za-z0-9_\-.+/=]*")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.]*|[A-Z][A-Z0-9_]*")
WORDS = re.compile(r"[a-z]+(?:[_\-. ][a-z]+)+")
CONFIG_LINE = re.compile(r"^\s*(?:export\s+)?[\"']?[A-Za-z_][\w.-]*[\"']?\s*(?:=|:)\s*\S")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character of the value's own characters."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def is_fake(value: str) -> bool:
    return (value in FIXTURES or bool(FAKE_MARKERS.search(value)) or heuristic.is_sequential_string(value)
            or heuristic.is_templated_secret(value) or heuristic.is_prefixed_with_dollar_sign(value))


def plausible_password(value: str, line: str) -> bool:
    v = value.strip()
    if len(v) < 4 or v.lower() in PLACEHOLDER_VALUES or any(c.isspace() for c in v) or is_fake(v) or "\\" in v:
        return False
    if heuristic.is_not_alphanumeric_string(v) or IDENTIFIER.fullmatch(v) and not any(c.isdigit() for c in v) \
            and (v.isupper() or "_" in v or PASSWORD_WORDS.search(v) or "." in v):
        return False
    return not (WORDS.fullmatch(v) or v.startswith(("/", "./", "http")) or "(" in v)


def plausible_key(value: str, line: str) -> bool:
    v = value.strip()
    if len(v) < 12 or is_fake(v) or TEST_VALUE.search(v) or any(c.isspace() for c in v) or "\\" in v \
            or WORDS.fullmatch(v.lower()):
        return False
    if IDENTIFIER.fullmatch(v) and not any(c.isdigit() for c in v):
        return False
    if heuristic.is_potential_uuid(v) or v.startswith(("/", "./", "http", "www.")) or "(" in v:
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", v) and len(v) in (32, 40, 56, 64, 96, 128) and HASH_WORDS.search(line):
        return False
    if re.fullmatch(r"[\d.\-:]+", v) or re.fullmatch(r"[\w.]+\.(?:py|js|json|ya?ml|txt|pem|key|crt)", v):
        return False
    return entropy(v) >= 3.0


def _automaton() -> "ahocorasick.Automaton":
    automaton = ahocorasick.Automaton()
    for trigger in TRIGGERS:
        automaton.add_word(trigger, trigger)
    automaton.make_automaton()
    return automaton


PRESCREEN = _automaton()   # Aho-Corasick: every trigger in one C pass over the lower-cased text


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) != len(text):   # a character whose lower case is longer would shift offsets
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low


def _hits(text: str, low: str) -> list[tuple[int, str]]:
    """(offset, trigger) of pre-screen hits, in text order; URLs with a user part count as "://"."""
    hits = [(end - len(trigger) + 1, trigger) for end, trigger in PRESCREEN.iter(low)]
    if "://" in text and "@" in text:
        hits += [(m.start(), "://") for m in URL_WITH_USER.finditer(text)]
    return sorted(hits)


def _windows(text: str, low: str) -> Iterator[tuple[int, int, set[str]]]:
    """Merged (start, end, triggers in it) windows of WINDOW characters either side of each pre-screen
    hit, inside its line and at most MAX_WINDOW long: dense hits on a huge line make many bounded
    windows (overlapping by at least WINDOW), never one unbounded one, and every search is bounded."""
    cur = None
    for at, trigger in _hits(text, low):
        newline = text.rfind("\n", max(0, at - WINDOW), at)
        lo = newline + 1 if newline >= 0 else max(0, at - WINDOW)
        newline = text.find("\n", at, at + WINDOW)
        hi = newline if newline >= 0 else min(len(text), at + WINDOW)
        if cur and lo <= cur[1] and max(hi, cur[1]) - cur[0] <= MAX_WINDOW:
            cur = (cur[0], max(cur[1], hi), cur[2] | {trigger})
        else:
            if cur:
                yield cur
            cur = (lo, hi, {trigger})
    if cur:
        yield cur


def _occurrences(seg: str, offset: int, value: str, kind: str, extend: re.Pattern | None = None) -> Iterator[Span]:
    """Every place `value` occurs in the window (grown over `extend`'s alphabet), unless the grown
    value is a documented fake."""
    at = seg.find(value)
    while at >= 0 and value:
        end = at + len(value)
        if extend is not None:
            end = extend.match(seg, end).end()
        if not is_fake(seg[at:end]):
            yield Span(offset + at, offset + end, kind)
        at = seg.find(value, end)


def _is_reference(value: str) -> bool:
    """An unquoted value that is code, not a secret: `self.api_key)`, `cfg.password`, `password`, `dbPass`,
    or a YAML tag (`!vault |`, `!Ref DbPassword`)."""
    if value.startswith("!") and NAME_LIKE.fullmatch(value[1:]):
        return True
    if not REFERENCE.fullmatch(value):
        return False
    name = value.rstrip(")],;")
    return "." in name or name != value or bool(NAME_LIKE.fullmatch(name))


def _doc_host(host: str) -> bool:
    """RFC 2606 documentation hosts: credentials in `https://user:pw@example.com` are illustrations."""
    host = host.lower().rstrip(".")
    return host in DOC_DOMAINS or host.endswith(DOC_SUFFIXES)


def _keyword_kind(before: str) -> str | None:
    """The kind an assigned value gets from the name before it (the last 48 characters), None when no
    name is in view (the window that holds the name decides)."""
    return "password" if PASSWORD_WORDS.search(before) else "key" if KEYISH_NAME.search(before) else None


def _scan_window(seg: str, low: str, offset: int, found: set[str]) -> Iterator[Span]:
    """Spans in one window; `low` is its lower case, `found` the pre-screen triggers in it."""
    for plugin, triggers in PROVIDER_PLUGINS:
        if found.intersection(triggers):
            for value in set(plugin.analyze_string(seg)):
                if value.startswith("AccountKey="):
                    value = value[len("AccountKey="):]
                if not is_fake(value):
                    yield from _occurrences(seg, offset, value, "key", JWT_CHARS if value.startswith("eyJ") else TOKEN_CHARS)
    for m in EXTRA_TOKENS.finditer(seg) if found & EXTRA_TRIGGERS else ():
        if not is_fake(m.group()):
            yield Span(offset + m.start(), offset + m.end(), "key")
    if "://" in found:
        values = set(BASIC_AUTH.analyze_string(seg)) | {m.group(1) for m in URL_CREDENTIALS.finditer(seg)}
        values -= {m.group(1) for m in URL_CREDENTIALS.finditer(seg) if _doc_host(m.group(2))}
        for value in values:
            if plausible_password(value, seg):
                yield from _occurrences(seg, offset, value, "password")
    if found & KEYWORD_TRIGGERS and KEYWORD_GATE.search(low):
        values = set(KEYWORD.analyze_string(seg, QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP))
        values |= {m.group(2) for m in QUOTED_PASSWORD.finditer(seg)}
        values |= {m.group(1) or m.group(2) for m in PASSWORD_FORMS.finditer(seg)}
        unquoted = {v.split()[0].rstrip(",;)]}") for v in KEYWORD.analyze_string(seg, CONFIG_DENYLIST_REGEX_TO_GROUP)
                    if v.split()} | {m.group(1).rstrip(",;)]}") for m in UNQUOTED_PASSWORD.finditer(seg)}
        unquoted = {v for v in unquoted - values if not _is_reference(v)}
        if unquoted and not heuristic.is_indirect_reference(seg):   # config lines, logs, .env
            values |= unquoted
        for value in values:
            plausible = {"password": plausible_password(value, seg), "key": plausible_key(value, seg), None: False}
            for span in _occurrences(seg, offset, value, "key"):
                kind = _keyword_kind(low[max(0, span.start - offset - 48):span.start - offset])
                if plausible[kind]:
                    yield Span(span.start, span.end, kind)
    if found & TOKEN_TRIGGERS and TOKEN_GATE.search(low):
        for m in TOKEN_ASSIGNMENT.finditer(seg):
            if plausible_key(m.group(1), seg):
                yield Span(offset + m.start(1), offset + m.end(1), "key")
    if found & TOKEN_TRIGGERS and ENTROPY_GATE.search(low) and not HASH_WORDS.search(seg):
        for plugin in (BASE64, HEX):
            for value in set(plugin.analyze_string(seg)):
                if plugin.calculate_shannon_entropy(value) > plugin.entropy_limit and plausible_key(value, seg):
                    yield from _occurrences(seg, offset, value, "key")


def _private_key_bodies(text: str) -> Iterator[Span]:
    for m in PRIVATE_KEY_BLOCK.finditer(text):
        body = m.group(3)
        if list(PRIVATE_KEY.analyze_string(m.group(0)[:80])) and re.search(r"[A-Za-z0-9+/=]{40}", body) \
                and not is_fake(body[:200]):
            yield Span(m.start(3), m.end(3), "key")


def find_secrets(text: str) -> list[Span]:
    """Key and password spans in `text` (overlaps are resolved by the caller)."""
    spans: list[Span] = []
    if "PRIVATE KEY" in text:
        spans += _private_key_bodies(text)
    low = _lower(text)
    for lo, hi, found in _windows(text, low):
        spans += _scan_window(text[lo:hi], low[lo:hi], lo, found)
    return spans


