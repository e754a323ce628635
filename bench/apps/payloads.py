"""The bodies every target receives: one Fax.Plus JSON delivery, one Documo multipart delivery.

The Fax.Plus body is the example of ``shared/providers/NOTES.md`` with its hook id (and fax id)
replaced by a unique value per request, so the dedup store does real work. The wrk script
(``faxplus.lua``) builds the very same bytes from :data:`FAXPLUS_TEMPLATE`.
"""

from __future__ import annotations

import json
import os

__all__ = [
    "DOCUMO_BOUNDARY",
    "DOCUMO_DATA",
    "FAXPLUS_TEMPLATE",
    "documo_body",
    "fake_pdf",
    "faxplus_body",
]

#: The Fax.Plus example with ``%s`` where the (unique) hook id and fax id go.
FAXPLUS_TEMPLATE = (
    '{"hook":{"id":"%s","event":"fax_sent","event_time":"2024-09-09 10:44:39",'
    '"target":"https://webhook.com"},"data":{"id":"%s",'
    '"uid":"490ae330dbc749f0b6561dafa300f2fb","pages":1,"from":"+1 334-304-xxxx",'
    '"to":"+1 334-304-xxxx","start_time":"2024-09-09 10:44:39",'
    '"file":"1d0b618e4fb54957878eed0ecc64ae5e.tiff","file_name":"fax-to-1334304xxxx",'
    '"status":"success","cost":1}}'
)


def faxplus_body(hook_id: str) -> bytes:
    """The Fax.Plus ``fax_sent`` example with ``hook_id`` as its hook and fax id."""
    return (FAXPLUS_TEMPLATE % (hook_id, hook_id)).encode()


#: The Documo ``fax.inbound`` sample of ``shared/providers/documo.txt`` (``messageId`` replaced).
DOCUMO_DATA: dict[str, object] = {
    "resultInfo": "OK",
    "messageId": "d7afa15d-a79-b013-18ec9c846ef3",
    "channelType": "web",
    "isArchived": False,
    "isFilePurged": False,
    "deliveryId": "2210514133330175",
    "watermark": "2210514133425960493",
    "messageNumber": "1436823",
    "status": "success",
    "pagesCount": 1,
    "pagesComplete": 1,
    "duration": 22000,
    "faxNumber": "+18332394039",
    "faxCsid": "702432",
    "faxCallerId": "702422",
    "faxECM": 256,
    "faxSpeed": 14400,
    "faxDetected": True,
    "faxProtocol": 17,
    "faxAttempt": 1,
    "direction": "inbound",
    "errorCode": "0",
    "resultCode": "0",
    "country": "US",
    "resolvedDate": "2021-05-14T13:34:00.000Z",
    "createdAt": "2021-05-14T13:34:30.000Z",
    "accountId": "efaa36f7-d9a0-43aa-0cb1114eea0c",
    "processingStatusName": "success",
    "classificationLabel": "inbound",
    "recipientName": None,
    "subject": None,
    "deviceId": None,
    "faxbridgeId": None,
    "deletedAt": None,
    "account": {
        "uuid": "efaa36f7-d9a0-493f-a3aa-0cb1114eea0c",
        "accountNumber": "1201734191",
        "accountName": "Documo",
        "accountType": "master",
    },
    "cf": {},
}

DOCUMO_BOUNDARY = "----hookreceiverbench7MA4YWxkTrZu0gW"


def fake_pdf(size: int) -> bytes:
    """``size`` bytes that start and end like a PDF; random inside, so nothing compresses."""
    head, tail = b"%PDF-1.4\n", b"\n%%EOF\n"
    return head + os.urandom(max(0, size - len(head) - len(tail))) + tail


def documo_body(message_id: str, pdf: bytes) -> tuple[bytes, str]:
    """A Documo multipart delivery (``data`` JSON + ``attachment`` PDF) and its content type."""
    data = json.dumps({**DOCUMO_DATA, "messageId": message_id})
    b = DOCUMO_BOUNDARY
    head = (
        f'--{b}\r\nContent-Disposition: form-data; name="data"\r\n\r\n{data}\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="attachment"; filename="fax.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + pdf + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"
