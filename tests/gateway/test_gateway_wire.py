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


def test_the_clients_key_goes_only_to_the_provider_and_host_it_was_sent_for(
    oai: Upstream, db: Database
) -> None:
    """No deployment here has a key of its own, so the client's is passed on, but only to
    a deployment of the provider and host of the alias's first: a fallback to another
    provider (here a local OpenAI-compatible server on the same port) used to receive the
    user's OpenAI key."""
    oai.needs_key = False  # the local server takes no key; the provider would check one
    base = oai.base_url + "/v1"
    models = {
        "fast": [
            {"provider": "openai", "model": "gpt-4o-mini", "base_url": base},
            {"provider": "openai", "model": "gpt-4o", "base_url": base},
        ],
        "local": [{"provider": "openai-compatible", "model": "llama3", "base_url": base}],
    }
    router = {"retries": 0, "strategy": "ordered"}
    with RunningGateway(models, db, fallbacks={"fast": ["local"]}, router=router) as gw:
        client = openai_client(gw)
        oai.fail_next(503)  # the first deployment fails: the second, same provider and host
        client.chat.completions.create(model="fast", messages=ASK)
        oai.fail_next(503, times=2)  # both fail: the fallback alias's local server answers
        reply = client.chat.completions.create(model="fast", messages=ASK)
    assert reply.choices[0].message.content == MOCK_TEXT
    sent = [(s.json["model"], s.headers.get("authorization")) for s in oai.seen]
    assert sent == [
        ("gpt-4o-mini", "Bearer client-key"),
        ("gpt-4o", "Bearer client-key"),
        ("gpt-4o-mini", "Bearer client-key"),
        ("gpt-4o", "Bearer client-key"),
        ("llama3", None),
    ]
    assert [r["provider"] for r in records(db)] == ["openai", "openai-compatible"]
