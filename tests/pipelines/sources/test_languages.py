from pipelines.sources import languages


def test_lists():
    assert len(languages.CODE_LANGUAGES) == 25 == len(set(languages.CODE_LANGUAGES))
    assert languages.MARKUP_LANGUAGES == ("Markdown", "HTML", "CSS")
    assert not set(languages.CODE_LANGUAGES) & set(languages.MARKUP_LANGUAGES)


def test_route_case_insensitive_and_aliases():
    assert languages.route("Python") == languages.route("python") == languages.route("PY") == "code"
    assert languages.route("c++") == languages.route("cpp") == languages.route("C++") == "code"
    assert languages.canonical("cpp") == "C++" and languages.canonical("csharp") == "C#"
    assert languages.route("markdown") == languages.route("HTML") == languages.route("css") == "markup"
    assert languages.route("COBOL") is None and languages.route("") is None and languages.route(None) is None
    assert languages.route("JSON") is None  # data, not code


def test_permissive():
    assert languages.is_permissive("MIT") and languages.is_permissive("apache-2.0")
    assert not languages.is_permissive("GPL-3.0") and not languages.is_permissive(None)
