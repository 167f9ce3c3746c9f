"""Request decoding: query strings and forms as urllib reads them, multipart bodies by hand.

The emulator decodes parameters without ``urllib.parse.parse_qsl``'s Python
loop and without the ``email`` parser (both cost milliseconds per call); these
tests hold the quick versions to the same answers.
"""

from __future__ import annotations

import random
from urllib.parse import parse_qsl, quote, urlencode

import pytest
import requests
import urllib3
from emulator_support import TOKEN, png_bytes

from botapi_emulator.errors import ApiError
from botapi_emulator.params import Upload, decode_multipart, decode_request, parse_query

# -- query strings and forms ----------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "a=1&b=2",
        "a=1&&b=&c",
        "text=%3Cb%3E%D0%97%D0%B2%D0%B5%D0%B7%D0%B4%D0%B0%3C%2Fb%3E+%26amp%3B",
        "a=%zz&b=%4&c=%&d=%%41&e=%=41&f=100%",
        "x=a%3Db=c&y=%3D%3D",
        "bad=%FF%FE&half=%D0",
        "tab=%09%0A%0D&raw=a\tb",
        "plus=a+b%2Bc",
        "é=ü&emoji=%F0%9F%98%80",
        "nl=a%0Ab\nc&cr=%\r\n",
    ],
)
def test_parse_query_matches_urllib(query):
    assert parse_query(query) == parse_qsl(query, keep_blank_values=True)


def test_parse_query_matches_urllib_on_random_texts():
    rnd = random.Random(17)
    alphabet = "%%%==&+ ;_09afAFgz\t\n\ré€😀<>\"'"
    for _ in range(20000):
        query = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 24)))
        assert parse_query(query) == parse_qsl(query, keep_blank_values=True), query
    for _ in range(2000):
        raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
        query = "t=" + quote(raw) + rnd.choice(["", "%", "%4", "%zz", "=", "&x"])
        assert parse_query(query) == parse_qsl(query, keep_blank_values=True), query


def test_form_body_and_query_merge_the_body_winning():
    body = urlencode({"text": "из тела", "parse_mode": "HTML"}).encode()
    values = decode_request("text=query&chat_id=5", "application/x-www-form-urlencoded", body)
    assert values == {"text": "из тела", "chat_id": "5", "parse_mode": "HTML"}


# -- multipart/form-data ----------------------------------------------------------------


def multipart(fields: dict) -> tuple[str, bytes]:
    body, content_type = urllib3.encode_multipart_formdata(fields)
    return content_type, body


def test_multipart_fields_and_files_as_urllib3_sends_them():
    photo = png_bytes(20, 10)
    content_type, body = multipart(
        {
            "chat_id": "1001",
            "caption": "<b>Три карты</b>\r\nи перевод строки",
            "photo": ("карта.png", photo, "image/PNG"),
            "document": ("notes.txt", b"--not-a-boundary\r\n\r\n"),
        }
    )
    values = decode_multipart(content_type, body)
    assert values["chat_id"] == "1001"
    assert values["caption"] == "<b>Три карты</b>\r\nи перевод строки"
    assert values["photo"] == Upload("карта.png", photo, "image/png")
    # no Content-Type on the part: the MIME default, as the email parser said
    assert values["document"] == Upload("notes.txt", b"--not-a-boundary\r\n\r\n", "text/plain")


def test_multipart_as_requests_sends_it():
    prepared = requests.Request(
        "POST",
        "http://emulator/",
        data={"chat_id": "7"},
        files={"photo": b"\x00\x01" * 500, "text": (None, "field")},
    ).prepare()
    values = decode_multipart(prepared.headers["Content-Type"], prepared.body)
    assert values["chat_id"] == "7" and values["text"] == "field"
    assert values["photo"] == Upload("photo", b"\x00\x01" * 500, "text/plain")


def test_multipart_header_forms_and_lenient_bodies():
    content_type = 'multipart/form-data; boundary="b1"'
    body = (
        b"a preamble\r\n"
        b'--b1\r\nContent-Disposition: form-data; name="quoted"; filename="a \\"b\\".txt"\r\n'
        b"\r\nQ\r\n"
        b"--b1\r\nContent-Disposition: form-data; name=b; filename*=utf-8''caf%C3%A9.txt\r\n"
        b"\r\nB\r\n"
        b'--b1\r\nContent-Disposition: form-data; name="enc"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"
        b'--b1\r\nContent-Disposition: form-data;\r\n name="folded"\r\n'
        b"Content-Type: text/plain; charset=latin-1\r\n\r\n\xe9t\xe9\r\n"
        b'--b1\r\nContent-Disposition: form-data; name="last"\r\n\r\nno closing delimiter'
    )
    values = decode_multipart(content_type, body)
    assert values == {
        "quoted": Upload('a "b".txt', b"Q", "text/plain"),
        "b": Upload("café.txt", b"B", "text/plain"),
        "enc": "hello",
        "folded": "été",
        "last": "no closing delimiter",
    }
    bare = b'--b1\nContent-Disposition: form-data; name="lf"\n\nbare LF\n--b1--\n'
    assert decode_multipart(content_type, bare) == {"lf": "bare LF"}


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"--x\r\n\r\n"),  # no boundary
        ("multipart/form-data; boundary=b1", b"no delimiter anywhere"),
    ],
)
def test_unreadable_multipart_is_a_bad_request(content_type, body):
    with pytest.raises(ApiError) as caught:
        decode_request("", content_type, body)
    assert caught.value.description == "Bad Request: can't parse multipart/form-data request body"


def test_send_photo_with_every_field_in_the_multipart_body(api, chat):
    """How a client posting everything in the body (urllib3's encoder) sends a photo."""
    content_type, body = multipart(
        {
            "chat_id": str(chat),
            "caption": "<b>Three cards</b> &amp; more",
            "parse_mode": "HTML",
            "reply_markup": '{"inline_keyboard": [[{"text": "Again", "callback_data": "a"}]]}',
            "photo": ("card.png", png_bytes(200, 100)),
        }
    )
    reply = requests.post(
        f"{api.base_url}/bot{TOKEN}/sendPhoto", data=body, headers={"Content-Type": content_type}
    )
    result = reply.json()["result"]
    assert result["caption"] == "Three cards & more"
    assert result["caption_entities"] == [{"offset": 0, "length": 11, "type": "bold"}]
    assert (result["photo"][-1]["width"], result["photo"][-1]["height"]) == (200, 100)
    assert result["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
