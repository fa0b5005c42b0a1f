"""The estimator on hand examples, and history learned from calls in a real database."""

from __future__ import annotations

import json
import math
import time

import pytest

import tokenomy
from tokenomy.predict import PredictError, Prediction, count_messages, predict, text_tokens
from tokenomy.predict.features import features
from tokenomy.predict.model import LengthModel, Sample, fit
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, Status, TokenUsage
from tokenomy.runner.family import family_hash
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
T0 = 1_793_491_200_000


def test_text_tokens_count_bpe_pieces() -> None:
    assert text_tokens("") == 0
    assert text_tokens("Hello, world!") == 4  # Hello , world !
    assert text_tokens("internationalization") == 4  # 20 letters: pieces of six
    assert text_tokens("1234567") == 3  # digits in threes
    assert text_tokens("東京タワー") == 5  # a token per character
    count = count_messages([{"role": "user", "content": "Hello, world!"}])
    assert (count.tokens, count.exact) == (4 + 4 + 3, False)
    assert count.low < count.tokens < count.high


def test_words_of_other_scripts_are_not_a_token_per_letter() -> None:
    # Before: a token per letter outside A-Z (13 for these three Russian words).
    assert text_tokens("Привет как дела") == 2 + 1 + 2  # about three letters a token
    assert text_tokens("Γειά σου κόσμε") == 2 + 1 + 2
    assert text_tokens("Straße München") == 2 + 2  # a word, split once at the accent


def test_a_plain_string_is_one_user_message() -> None:
    as_string = count_messages("Hello, world!")
    as_message = count_messages([{"role": "user", "content": "Hello, world!"}])
    assert as_string.tokens == as_message.tokens == 4 + 4 + 3


def test_images_count_as_images_not_as_their_base64() -> None:
    data = "data:image/jpeg;base64," + "QUJD" * 40_000  # 160 kB of base64
    question = {"type": "text", "text": "What is in this image?"}
    low = {"type": "image_url", "image_url": {"url": data, "detail": "low"}}
    high = {"type": "image_url", "image_url": {"url": data}}
    claude = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "QUJD" * 40_000},
    }
    text = text_tokens("What is in this image?")
    for part, image in ((low, 85), (high, 765), (claude, 1600)):
        count = count_messages([{"role": "user", "content": [question, part]}])
        assert count.tokens == text + image + 4 + 3, part["type"]


def test_files_and_audio_are_not_read_as_words() -> None:
    """A base64 PDF or audio clip was counted as ~1 token per 2.75 characters (73,000 for a
    200 kB PDF); only what such a part holds as text counts."""
    blob = "JVBERi0xLjQK" * 20_000  # 240 kB of base64
    question = {"type": "text", "text": "Summarise this."}
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": blob},
        "title": "Annual report",
    }
    audio = {"type": "input_audio", "input_audio": {"data": blob, "format": "wav"}}
    file = {"type": "file", "file": {"file_data": blob, "filename": "a.pdf"}}
    plain = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "The grass is green."},
    }
    base = text_tokens("Summarise this.") + 4 + 3
    for part, text in (
        (pdf, "Annual report"),
        (audio, ""),
        (file, ""),
        (plain, "The grass is green."),
    ):
        count = count_messages([{"role": "user", "content": [question, part]}])
        assert count.tokens == base + (text_tokens(text) if text else 0), part["type"]


def _model() -> tokenomy.predict.model.LengthModel:
    samples = []
    for i in range(40):
        samples.append(Sample(f"Write an essay about topic {i}", "big", 600 + i))
        samples.append(Sample(f"In one word, what colour is thing {i}?", "big", 2 + i % 3))
        samples.append(Sample(f"Write an essay about topic {i}", "small", 200 + i))
        samples.append(Sample(f"In one word, what colour is thing {i}?", "small", 1 + i % 2))
    return fit(samples)


def test_fitted_model_separates_essays_from_one_word_answers() -> None:
    model = _model()
    _, essay, _ = model.predict("Write an essay about rivers", "big").tokens()
    _, word, _ = model.predict("In one word, what colour is the sky?", "big").tokens()
    _, small_essay, _ = model.predict("Write an essay about rivers", "small").tokens()
    assert essay > 300 and word < 10
    assert small_essay < essay  # per-model verbosity
    low, mid, high = model.predict("Write an essay about rivers", "unknown-model").tokens()
    assert low <= mid <= high


def test_words_tell_apart_what_the_flags_cannot() -> None:
    # The same wording but for the topic: no handcrafted feature differs, the words do.
    samples = []
    for i in range(100):
        for model in ("big", "small"):
            samples.append(Sample(f"Tell me about rivers number {i}", model, 500 + 7 * (i % 30)))
            samples.append(Sample(f"Tell me about cities number {i}", model, 20 + i % 5))
    model = fit(samples)
    assert features("Tell me about rivers") == features("Tell me about cities")
    _, long, _ = model.predict("Tell me about rivers", "big").tokens()
    _, short, _ = model.predict("Tell me about cities", "big").tokens()
    # Word weights are shrunk hard (ridge chosen for ~2,000 answers), so 3.6x, not 25x.
    assert long > 2 * short
    vec = model.word_vector("Tell me about rivers, rivers and zebras")
    assert "zebras" not in vec and "rivers" in vec  # only terms the model knows
    assert math.isclose(sum(v * v for v in vec.values()), 1.0)


def test_model_round_trips_through_json() -> None:
    model = _model()
    again = LengthModel.from_json(json.loads(json.dumps(model.to_json())))
    for text in ("Write an essay about rivers", "In one word, what colour is the sky?"):
        assert again.predict(text, "big").tokens() == model.predict(text, "big").tokens()
    assert again.word_coef and again.idf.keys() == again.word_coef.keys()


def test_interval_comes_from_held_out_residuals() -> None:
    # Answers vary 1-to-8-fold around each instruction's level: held-out residuals must
    # make the interval wide enough to hold about 80% of the answers it was fitted on.
    samples = [
        Sample(f"Write an essay about topic {i}", "big", 100 * (1 + (i * 7) % 8))
        for i in range(200)
    ]
    model = fit(samples)
    inside = 0
    for s in samples:
        low, _, high = model.predict(s.instruction, s.model).tokens()
        inside += low <= s.output_tokens <= high
    assert 0.7 <= inside / len(samples) <= 0.9


def test_shipped_prior_has_words_and_names_its_source() -> None:
    prior = tokenomy.predict.prior.shipped_model()
    assert "GSM8K" in prior.trained_on and "Apache-2.0" in prior.trained_on
    assert len(prior.word_coef) > 1000
    low, mid, high = prior.predict("How many apples are left if Tom eats 3 of 10?", "x").tokens()
    assert 0 < low <= mid <= high


def test_prediction_prices_the_interval() -> None:
    now = int(time.time() * 1000)
    # The SDK's spelling: the package itself is callable (mypy sees only the module).
    p = tokenomy.predict(  # type: ignore[operator]
        [{"role": "user", "content": "List 5 ideas"}], "gpt-4o", catalog=CATALOG, at_ms=now
    )
    assert isinstance(p, Prediction)
    assert p.basis == "prior" and p.history_calls == 0
    assert p.output_low <= p.output_median <= p.output_high
    assert p.cost_low_nanos is not None and p.cost_high_nanos is not None
    assert p.cost_low_nanos <= (p.cost_median_nanos or 0) <= p.cost_high_nanos
    price = CATALOG.resolve(None, "gpt-4o", T0)
    assert price is not None
    usage = TokenUsage(input_tokens=p.input.tokens, output_tokens=p.output_median)
    median = CATALOG.cost_nanos(None, "gpt-4o", usage, now)
    assert median is not None and p.cost_median_nanos == median
    assert p.to_json()["cost_usd"]["median"] == median / 1e9


def test_bad_input_names_the_field() -> None:
    with pytest.raises(PredictError) as err:
        predict("hi", "")
    assert err.value.field == "model"
    with pytest.raises(PredictError) as err:
        predict(None, "gpt-4o")
    assert err.value.field == "messages"
    with pytest.raises(PredictError):
        predict([1, 2], "gpt-4o")


def _chat(i: int, model: str, output: int, **kw: object) -> CallRecord:
    return CallRecord(
        "sdk",
        f"{model}-{i}",
        T0 + i * 1000,
        TokenUsage(input_tokens=100, output_tokens=output),
        request_model=model,
        response_model=model,
        **kw,  # type: ignore[arg-type]
    )


def test_history_moves_the_prediction_towards_the_users_calls(db: Database) -> None:
    before = predict("Tell me about rivers", "gpt-4o", db=db)
    assert before.basis == "prior"
    # 200 answers of about 2,000 tokens (the prior expects far fewer); failures and other
    # models are ignored.
    calls = [_chat(i, "gpt-4o", 1900 + i) for i in range(200)]
    calls += [_chat(500 + i, "gpt-4o", 5, status=Status.ERROR) for i in range(50)]
    calls += [_chat(900 + i, "other", 3) for i in range(50)]
    write_records(db, calls)
    after = predict("Tell me about rivers", "gpt-4o", db=db)
    assert after.basis == "prior+history" and after.history_calls == 200
    assert after.output_median > 5 * before.output_median
    # Shrinkage: 200 calls against a prior worth 10 is most of the way, not all of it.
    w = 200 / 210
    assert math.isclose(
        math.log1p(after.output_median) - math.log1p(before.output_median),
        w * (math.log1p(1999.5) - tokenomy.predict.prior.shipped_model().typical_log("gpt-4o")),
        abs_tol=0.05,
    )


def test_an_undated_name_learns_from_its_dated_releases(db: Database) -> None:
    # Agent logs record the dated id; users ask about the model by its short name.
    calls = [_chat(i, "claude-haiku-4-5-20251001", 1900 + i) for i in range(40)]
    calls += [_chat(100 + i, "gpt-4o-2024-08-06", 800) for i in range(10)]
    calls += [_chat(200 + i, "gpt-4o-mini", 3) for i in range(30)]  # not gpt-4o
    write_records(db, calls)
    haiku = predict("Tell me about rivers", "claude-haiku-4-5", db=db)
    assert (haiku.basis, haiku.history_calls) == ("prior+history", 40)
    assert predict("Tell me about rivers", "gpt-4o", db=db).history_calls == 10


def test_runner_commands_learn_per_family(db: Database) -> None:
    def run(i: int, prompt: str, output: int) -> CallRecord:
        return CallRecord(
            "runner",
            f"r{i}",
            T0 + i,
            TokenUsage(input_tokens=50, cache_read_tokens=20_000, output_tokens=output),
            request_model="claude-sonnet-4-5",
            attributes={"family_hash": family_hash(prompt)},
        )

    runs = [run(i, f"fix issue {i} in src/app.py", 3000) for i in range(30)]
    runs += [run(100 + i, "write the changelog", 300) for i in range(30)]
    write_records(db, runs)
    fix = predict(command="fix issue 999 in lib/x.py", model="claude-sonnet-4-5", db=db)
    log = predict(command="write the changelog", model="claude-sonnet-4-5", db=db)
    assert fix.basis == log.basis == "family history"
    assert fix.history_calls == 30
    assert 1500 < fix.output_median < 3100 and 300 <= log.output_median < 1200
    assert fix.input.tokens == 20_050  # the runs' prompt, not the command's few words
    new = predict(command="plan the sprint", model="claude-sonnet-4-5", db=db)
    assert new.basis == "model runs" and new.history_calls == 60
