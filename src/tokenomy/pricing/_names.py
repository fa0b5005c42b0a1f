"""From the (provider, model) a caller recorded to the ids our price sources know.

Callers pass whatever their source wrote: "anthropic/claude-sonnet-4.5" from a router,
"us.anthropic.claude-sonnet-4-5-20250929-v1:0" from Bedrock, "claude-sonnet-4-5@20250929"
from Vertex, "xai" for "x-ai", or no provider at all. ``Naming.attempts`` lists the
(provider, model id) pairs to try, most faithful to the caller first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from genai_prices.data_snapshot import find_provider_by_id
from genai_prices.types import Provider

# Bedrock: optional cross-region prefix, "anthropic.", the model, an optional version tag.
_BEDROCK = re.compile(
    r"^(?:[a-z]{2,6}(?:-[a-z]+)?\.)?anthropic\.(claude-[a-z0-9.\-]+?)(?:-v\d+(?::\d+)?)?$"
)
# Snapshot dates callers append and price lists omit: -20250929, -2025-09-29, @20250929.
_DATE_SUFFIX = re.compile(r"(?:[-@]20\d{6}|-20\d{2}-\d{2}-\d{2})$")


def undated(model: str) -> str:
    """``model`` without a snapshot date (claude-haiku-4-5-20251001 -> claude-haiku-4-5)."""
    return _DATE_SUFFIX.sub("", model)


class Naming:
    def __init__(self, inference: Sequence[tuple[re.Pattern[str], str]], providers: list[Provider]):
        self._inference = inference
        self._providers = providers

    def provider_id(self, name: str) -> str:
        """Canonical provider id: genai-prices' id when it knows the name ("xai" -> "x-ai")."""
        cleaned = name.strip().lower()
        found = find_provider_by_id(self._providers, cleaned)
        return found.id if found is not None else cleaned

    def infer_provider(self, model: str) -> str | None:
        """The provider whose model this is, from the id alone (claude-* -> anthropic)."""
        for pattern, provider in self._inference:
            if pattern.search(model):
                return provider
        for candidate in self._providers:
            if candidate.model_match is not None and candidate.model_match.is_match(model):
                return candidate.id
        return None

    def family(self, provider: str, model: str) -> str:
        """Whose pricing rules a model follows: Claude on Vertex still follows Anthropic's."""
        return self.infer_provider(model) or provider

    def attempts(self, provider: str | None, model: str) -> list[tuple[str | None, str]]:
        ref = model.strip().lower()
        given = self.provider_id(provider) if provider else None
        out: list[tuple[str | None, str]] = []

        def add(pid: str | None, mid: str) -> None:
            if pid is None and given is not None:
                return  # a provider-less attempt would match any provider's override
            for candidate in (mid, undated(mid)):
                if candidate and (pid, candidate) not in out:
                    out.append((pid, candidate))

        add(given if given is not None else self.infer_provider(ref), ref)
        tail = ref
        prefix, slash, rest = ref.partition("/")
        if slash and rest:
            # "anthropic/claude-..." as routers and LiteLLM write it.
            tail = rest
            if find_provider_by_id(self._providers, prefix) is not None:
                add(self.provider_id(prefix), rest)
            add(self.infer_provider(rest), rest)
        bedrock = _BEDROCK.match(tail)
        if bedrock:
            add("anthropic", bedrock.group(1))
        vertex_style = tail.replace("@", "-")
        if vertex_style != tail:
            add(self.infer_provider(vertex_style), vertex_style)
        if given is not None:
            # A model served under another provider's API shape (OpenAI-compatible
            # endpoints for Claude or Gemini) is still that model.
            add(self.infer_provider(tail), tail)
        return out
