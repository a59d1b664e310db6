import pytest

from mixer.budget import format_tokens, parse_tokens


@pytest.mark.parametrize("text,count", [("200B", 200 * 10**9), ("40b", 40 * 10**9), ("2M", 2 * 10**6),
                                        ("2.3B", 2_300_000_000), ("1e9", 10**9), ("0.5K", 500), ("812", 812),
                                        ("1T", 10**12), (" 7 K ", 7000)])
def test_parse_tokens_decimal_suffixes(text, count):
    assert parse_tokens(text) == count


@pytest.mark.parametrize("text,message", [("0", "positive"), ("-1B", "expected a number"),
                                          ("abc", "expected a number"), ("1.5", "whole number"),
                                          ("2X", "expected a number"), ("", "expected a number")])
def test_parse_tokens_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_tokens(text)


def test_format_round_trips_common_budgets():
    for text in ("200B", "40B", "2.5M", "812", "1T"):
        assert format_tokens(parse_tokens(text)) == text
