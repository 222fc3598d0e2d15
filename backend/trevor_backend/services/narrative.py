"""Optional narrative for checkers: an LLM summary of the agent's findings (SPEC §5).

Off by default (``TrevorBackend.narrative_class = None``). When configured, the agent asks for a
few sentences summarising its report; the text is stored as ``report["narrative"]``. It is a
reading aid and never a decision: the verdicts come from the rule engine alone, and a failing,
slow or absent endpoint never holds up a review.

Only rule names, statuses, statbarns, counts of flagged cells and thresholds are sent — never
cell values, labels, file names or evidence — so that nothing disclosive leaves the TRE even
when the endpoint is outside it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

SYSTEM_PROMPT = (
    "You help output checkers in a Trusted Research Environment. Summarise the automatic "
    "statistical disclosure control report below in at most five plain sentences: which "
    "outputs fail or need judgement and why, and what the researcher could change. Do not "
    "give a verdict; checkers decide."
)


class NarrativeError(Exception):
    """The narrative endpoint failed or answered something unusable."""


class Narrative(LoggingConfigurable):
    """Base class of narrative backends (``TrevorBackend.narrative_class``)."""

    timeout = Float(30.0, config=True, help="Seconds to wait for a narrative before giving up.")

    async def summarise(self, report: dict[str, Any]) -> str:
        raise NotImplementedError


def redact(report: dict[str, Any]) -> dict[str, Any]:
    """The part of an agent report that may be sent to a model: no values, labels or names."""
    objects = []
    for i, obj in enumerate((report.get("objects") or {}).values(), start=1):
        objects.append(
            {
                "output": f"output {i}",
                "statbarn": obj.get("statbarn"),
                "status": obj.get("status"),
                "findings": [
                    {
                        "rule": f.get("rule"),
                        "status": f.get("status"),
                        "flagged_cells": len(f.get("positions") or f.get("cells") or []),
                        "limit": f.get("limit")
                        if isinstance(f.get("limit"), int | float)
                        else None,
                    }
                    for f in obj.get("findings") or []
                ],
            }
        )
    return {"recommendation": report.get("recommendation"), "outputs": objects}


class OpenAIChatNarrative(Narrative):
    """Any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, Ollama, LiteLLM…)."""

    base_url = Unicode(
        config=True,
        help="Base URL of the API, e.g. https://api.openai.com/v1 (env TREVOR_NARRATIVE_BASE_URL).",
    )
    model = Unicode(config=True, help="Model name (env TREVOR_NARRATIVE_MODEL).")
    api_key = Unicode(
        config=True, help="Bearer token for the endpoint (env TREVOR_NARRATIVE_API_KEY)."
    )
    max_tokens = Int(400, config=True, help="Longest narrative, in tokens.")

    @default("base_url")
    def _base_url_default(self) -> str:
        return os.environ.get("TREVOR_NARRATIVE_BASE_URL", "https://api.openai.com/v1")

    @default("model")
    def _model_default(self) -> str:
        return os.environ.get("TREVOR_NARRATIVE_MODEL", "gpt-4o-mini")

    @default("api_key")
    def _api_key_default(self) -> str:
        return os.environ.get("TREVOR_NARRATIVE_API_KEY", "")

    async def summarise(self, report: dict[str, Any]) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(redact(report), sort_keys=True)},
            ],
        }
        request = HTTPRequest(
            self.base_url.rstrip("/") + "/chat/completions",
            method="POST",
            headers=headers,
            body=json.dumps(body),
            request_timeout=self.timeout,
            connect_timeout=min(10.0, self.timeout),
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as exc:
            raise NarrativeError(f"narrative endpoint answered {exc.code}") from exc
        try:
            return str(json.loads(response.body)["choices"][0]["message"]["content"]).strip()
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise NarrativeError("narrative endpoint answered an unexpected body") from exc
