"""Answers as the orch simulator writes them, and Werkzeug's attachment header."""

from __future__ import annotations

import json
import string
import unicodedata
from typing import Any, Dict, Optional
from urllib.parse import quote

_TOKEN = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


class Reply:
    """One answer: status, body, type, extra headers, maybe an attachment name."""

    def __init__(self, status: int, body: bytes = b"",
                 content_type: str = "application/json",
                 headers: Optional[Dict[str, str]] = None,
                 attachment: Optional[str] = None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.attachment = attachment


def json_reply(status: int, data: Any) -> Reply:
    return Reply(status, (json.dumps(data) + "\n").encode())


def html_reply(status: int, title: str, text: str,
               headers: Optional[Dict[str, str]] = None) -> Reply:
    page = ("<!doctype html>\n<html lang=en>\n<title>%d %s</title>\n<h1>%s</h1>\n"
            "<p>%s</p>\n" % (status, title, title, text))
    return Reply(status, page.encode(), "text/html; charset=utf-8", headers)


def _header_value(value: str) -> str:
    if value and all(ch in _TOKEN for ch in value):
        return value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def content_disposition(name: str, star: bool = False, fallback: Optional[str] = None) -> str:
    """An attachment header as Werkzeug's ``send_file`` writes it.

    :param name: the file name
    :param star: add ``filename*=UTF-8''...`` even for an ASCII name
    :param fallback: the plain ``filename=`` when ``filename*`` is used
    :returns: the header value
    """
    try:
        name.encode("ascii")
        plain = True
    except UnicodeEncodeError:
        plain = False
    if plain and not star:
        return "attachment; filename=%s" % _header_value(name)
    if fallback is None:
        folded = unicodedata.normalize("NFKD", name)
        fallback = folded.encode("ascii", "ignore").decode("ascii")
    return "attachment; filename=%s; filename*=UTF-8''%s" % (
        _header_value(fallback), quote(name, safe="!#$&+^`|~"))
