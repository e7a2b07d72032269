"""Decoding bodies: BOM, header, the document's declaration, then detection; browser label
mapping so that umlauts and German quotes survive."""

from __future__ import annotations

import codecs

import pytest

from tests.articleserver import FIXTURES
from tracker.charset import decode

GERMAN = "„Grüße aus Pjöngjang“, sagte die Präsidentin – größer als gedacht."


def page(head: str, text: str = GERMAN) -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>t</title></head><body><p>{text}</p></body>"


def test_header_charset_wins_over_the_meta_declaration() -> None:
    body = page('<meta charset="utf-8">').encode("cp1252")
    assert GERMAN in decode(body, "windows-1252")


def test_meta_charset_is_used_without_a_header() -> None:
    body = page('<meta charset="windows-1252">').encode("cp1252")
    assert GERMAN in decode(body)


def test_http_equiv_content_type_is_used_without_a_header() -> None:
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    assert GERMAN in decode(page(head).encode("cp1252"))


def test_xml_declaration_is_used_without_a_header() -> None:
    body = '<?xml version="1.0" encoding="iso-8859-15"?>\n' + page("", "Grüße für 10 €")
    assert "Grüße für 10 €" in decode(body.encode("iso-8859-15"))


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
     (codecs.BOM_UTF16_BE, "utf-16-be")],
)  # fmt: skip
def test_byte_order_mark_decides_and_is_dropped(bom: bytes, encoding: str) -> None:
    text = decode(bom + page("").encode(encoding))
    assert text.startswith("<!DOCTYPE")
    assert GERMAN in text


def test_byte_order_mark_wins_over_the_header() -> None:
    # WHATWG: a BOM beats a wrong header, as in every browser
    body = codecs.BOM_UTF8 + page("").encode()
    assert GERMAN in decode(body, "iso-8859-1")


@pytest.mark.parametrize("label", ["iso-8859-1", "ISO-8859-1", "latin1", "ISO_8859-1", "us-ascii"])
def test_latin1_labels_decode_as_windows_1252(label: str) -> None:
    # „ and “ are 0x84 and 0x93: C1 controls in ISO-8859-1, quotes in windows-1252
    body = page(f'<meta charset="{label}">').encode("cp1252")
    assert b"\x84" in body
    assert b"\x93" in body
    assert GERMAN in decode(body)


def test_latin1_label_in_the_header_decodes_as_windows_1252() -> None:
    assert decode(b"\x84Gr\xfc\xdfe\x93", "iso-8859-1") == "„Grüße“"


def test_unknown_header_label_falls_back_to_the_meta_declaration() -> None:
    body = page('<meta charset="windows-1252">').encode("cp1252")
    assert GERMAN in decode(body, "x-no-such-charset")


@pytest.mark.parametrize("label", ["base64", "idna", "undefined"])
def test_label_naming_a_codec_that_is_not_a_text_encoding_is_ignored(label: str) -> None:
    body = page('<meta charset="utf-8">').encode()
    assert GERMAN in decode(body, label)


def test_undeclared_utf8_is_decoded_as_utf8() -> None:
    assert GERMAN in decode(page("").encode())


def test_undeclared_windows_1252_is_detected() -> None:
    text = (FIXTURES / "story_de" / "v2.txt").read_text(encoding="utf-8")
    body = page("", text).encode("cp1252", errors="xmlcharrefreplace")
    decoded = decode(body)
    assert text.splitlines()[5] in decoded
    assert "\ufffd" not in decoded


# --- declared charsets are claims: checked, not obeyed ----------------------------------------


@pytest.mark.parametrize("label", ["utf-16", "utf-16le", "UTF-16BE", "utf-32"])
def test_a_false_utf16_header_on_an_ascii_compatible_body_is_not_obeyed(label: str) -> None:
    body = page('<meta charset="utf-8">').encode()
    assert GERMAN in decode(body, label)
    assert GERMAN in decode(page("").encode(), label)  # no declaration at all: detected


def test_a_true_utf16_header_without_bom_is_obeyed() -> None:
    assert GERMAN in decode(page("").encode("utf-16-le"), "utf-16-le")


@pytest.mark.parametrize("label", ["utf-7", "UTF7", "unicode_escape", "raw_unicode_escape",
                                   "rot13", "punycode", "hz"])
def test_dangerous_or_obsolete_encodings_are_never_used(label: str) -> None:
    # "+ADw-script+AD4-" is <script> in UTF-7
    body = b"<p>+ADw-script+AD4-alert(1)+ADw-/script+AD4-</p>"
    text = decode(body, label)
    assert "<script>" not in text
    assert "+ADw-script+AD4-" in text
    meta = b'<meta charset="' + label.encode() + b'">' + body
    assert "<script>" not in decode(meta)


def test_a_utf8_header_on_a_windows_1252_body_gives_way_to_its_declaration() -> None:
    body = page('<meta charset="windows-1252">').encode("cp1252")
    assert GERMAN in decode(body, "utf-8")


def test_a_utf8_body_with_one_stray_byte_keeps_its_declared_charset() -> None:
    body = page("").encode() + b"\xff"
    text = decode(body, "utf-8")
    assert GERMAN in text
    assert text.count("\ufffd") == 1
