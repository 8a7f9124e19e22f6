"""How an attachment is served: a download with a name every browser reads, never a page."""

from __future__ import annotations

from urllib.parse import unquote

from trimtab.server.headers import attachment_response


def test_attachment_response__quotes_and_non_ascii_in_the_name__safe_header_both_forms() -> None:
    name = 'rapport "final"\\é\r\n.txt'
    response = attachment_response(name, "text/plain", b"x")

    disposition = response.headers["content-disposition"]
    ascii_part, _, encoded = disposition.partition("; filename*=UTF-8''")
    assert ascii_part == 'attachment; filename="rapport _final_____.txt"'
    assert unquote(encoded) == name
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


def test_attachment_response__inline_image__inline_disposition() -> None:
    response = attachment_response("shot.png", "image/png", b"\x89PNG", inline=True)
    assert response.headers["content-disposition"].startswith('inline; filename="shot.png"')
    assert response.headers["content-type"] == "image/png"
