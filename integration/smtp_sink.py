"""An aiosmtpd handler for the tests (integration/common/smtp.rs): every
message it accepts is written to a directory as the raw message (.eml)
and, parsed by Python's email package, as JSON (.json) with the envelope
recipients, the decoded subject and body (the text part of a multipart
message), the Message-ID, and each attachment saved beside it (its file
name, type and path).

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink DIRECTORY
"""

import email
import email.policy
import json
import os
import time
import uuid


class Sink:
    def __init__(self, directory):
        self.directory = directory

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink takes one argument: the directory")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            # SMTP lines end in CRLF; the tests compare text.
            "body": message.get_body(preferencelist=("plain",))
            .get_content()
            .replace("\r\n", "\n"),
        }
        name = f"{time.time_ns()}-{uuid.uuid4().hex}"
        record["content_type"] = message.get_content_type()
        record["attachments"] = []
        for i, part in enumerate(message.iter_attachments()):
            path = os.path.join(self.directory, f"{name}.{i}.bin")
            with open(path, "wb") as f:
                f.write(part.get_content())
            record["attachments"].append(
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "path": path,
                }
            )
        with open(os.path.join(self.directory, name + ".eml"), "wb") as f:
            f.write(raw)
        # Written under a hidden name, then renamed: a reader never sees
        # half a file.
        tmp = os.path.join(self.directory, "." + name + ".json")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(tmp, os.path.join(self.directory, name + ".json"))
        return "250 Message accepted for delivery"
