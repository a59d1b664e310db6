"""Stack Exchange post HTML -> plain text, keeping code blocks as fenced code.

html.parser never fetches or expands anything beyond the standard character
references, so a post body cannot reach the network or the disk.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "blockquote", "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}


class _TextBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.pre_depth = 0
        self.code_in_pre = False

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self.pre_depth += 1
            if self.pre_depth == 1:
                self.parts.append("\n\n```\n")
        elif tag == "code":
            if self.pre_depth:
                self.code_in_pre = True
            else:
                self.parts.append("`")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK and not self.pre_depth:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
            if self.pre_depth == 0:
                if self.parts and not self.parts[-1].endswith("\n"):
                    self.parts.append("\n")
                self.parts.append("```\n\n")
        elif tag == "code":
            if self.pre_depth:
                self.code_in_pre = False
            else:
                self.parts.append("`")
        elif tag in _BLOCK and not self.pre_depth:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self.pre_depth:
            self.parts.append(data)
        else:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML fragment: paragraphs separated by blank lines, <pre> as ``` fences."""
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    if builder.pre_depth:  # unclosed <pre>: close the fence so the text stays well formed
        builder.parts.append("\n```\n")
    text = "".join(builder.parts)
    out, fenced = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
            out.append(line)
        else:
            out.append(line if fenced else line.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
