"""A minimal SMTP receiver on a free loopback port (socketserver in a thread): enough of
RFC 5321 for smtplib's EHLO, MAIL, RCPT, DATA and QUIT, recording each message."""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage


@dataclass
class Sink:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_rcpt: bool = False


@contextmanager
def smtp_sink(refuse_rcpt: bool = False) -> Iterator[Sink]:
    sink = Sink(refuse_rcpt=refuse_rcpt)
    lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")
            self.wfile.flush()

        def handle(self) -> None:
            self.reply("220 sink ESMTP")
            sender, rcpts = "", list[str]()
            while True:
                raw = self.rfile.readline()
                if not raw:
                    return
                cmd = raw.decode().strip()
                verb = cmd.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 sink")
                elif verb == "MAIL":
                    sender, rcpts = cmd.split(":", 1)[1].strip(" <>"), []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    if sink.refuse_rcpt:
                        self.reply("550 no such user")
                    else:
                        rcpts.append(cmd.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with .")
                    lines: list[bytes] = []
                    while (line := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(line[1:] if line.startswith(b"..") else line)
                    msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                    with lock:
                        sink.messages.append(msg)
                        sink.envelopes.append((sender, rcpts))
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
