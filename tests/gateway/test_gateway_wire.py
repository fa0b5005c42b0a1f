"""What the gateway sends providers and what it records from their answers, seen through
the official SDKs: encodings, keys, usage and its absence, errors inside streams."""

from __future__ import annotations

from tests.gateway.running import RunningGateway
from tests.gateway.test_gateway import openai_client, openai_deployment, records
from tests.gateway.upstreams import MOCK_TEXT, Upstream

from tokenomy.store import Database

ASK = [{"role": "user", "content": "hi"}]


def test_the_provider_is_asked_only_for_encodings_the_gateway_can_decode(
    oai: Upstream, db: Database
) -> None:
    """A client accepting br or zstd (curl --compressed, Node's fetch) used to have its
    Accept-Encoding forwarded: a provider answering in brotli gave a 502 after three billed
    attempts. The gateway now asks for gzip or deflate, and decodes the answer itself."""
    oai.compress_like_cloudflare = True
    with RunningGateway({"fast": [openai_deployment(oai)]}, db) as gw:
        reply = openai_client(gw).chat.completions.create(
            model="fast", messages=ASK, extra_headers={"Accept-Encoding": "br, zstd, gzip"}
        )
    assert reply.choices[0].message.content == MOCK_TEXT
    [seen] = oai.seen  # one attempt
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert oai.encoded == ["gzip"]  # the answer came compressed, and was read
    [rec] = records(db)
    assert (rec["status"], rec["input_tokens"], rec["output_tokens"]) == ("ok", 8, 5)
