"""``trevor.form(obj)``: tag an output from an ipywidgets form with a live pre-check."""

from __future__ import annotations

import html
from typing import Any

from trevor_backend.sdc import statbarns as sb

from .display import shown_check, verdict_banner
from .evidence import evidence_of
from .tagging import TaggedOutput, tag


class TagForm:
    """The widgets and their behaviour; ``widget`` is what the notebook displays."""

    def __init__(
        self, obj: Any, title: str = "", statbarn: str | None = None, **tag_kwargs: Any
    ) -> None:
        import ipywidgets as w

        self.obj = obj
        self.tag_kwargs = tag_kwargs
        self.result: TaggedOutput | None = None
        evidence = evidence_of(obj)
        suggested = statbarn
        if suggested is None and evidence is not None:
            suggested = getattr(evidence, "statbarn", None) or (
                evidence.get("statbarn") if isinstance(evidence, dict) else None
            )
        options = [("(choose a statbarn)", "")] + [
            (entry.name, entry.id) for entry in sb.CATALOGUE.values()
        ]
        layout = w.Layout(width="100%")
        self.title = w.Text(value=title, description="Title", layout=layout)
        self.statbarn = w.Dropdown(
            options=options, value=suggested or "", description="Statbarn", layout=layout
        )
        self.guidance = w.HTML()
        self.description = w.Textarea(description="Description", layout=layout)
        self.justification = w.Textarea(description="Justification", layout=layout)
        self.suppression_notes = w.Textarea(description="Suppression", layout=layout)
        self.verdict = w.HTML()
        self.button = w.Button(description="Tag output", button_style="primary", icon="tag")
        self.status = w.HTML()
        self.statbarn.observe(self._refresh, names="value")
        self.button.on_click(self._submit)
        self.widget = w.VBox(
            [
                self.title,
                self.statbarn,
                self.guidance,
                self.description,
                self.justification,
                self.suppression_notes,
                self.verdict,
                w.HBox([self.button, self.status]),
            ]
        )
        self._refresh()

    def _refresh(self, _change: Any = None) -> None:
        entry = sb.get(self.statbarn.value or None)
        if entry is None:
            self.guidance.value = "<i>Choose the statbarn that describes this output.</i>"
        else:
            self.guidance.value = (
                f"<div class='trevor-guidance'><b>{html.escape(entry.name)}</b>:"
                f" {html.escape(entry.guidance)}</div>"
            )
        try:
            report, offered = shown_check(self.obj, self.statbarn.value or None)
            self.verdict.value = verdict_banner(report, offered=offered)
        except Exception as exc:  # files without evidence still get a form
            self.verdict.value = f"<i>No pre-check: {html.escape(str(exc))}</i>"

    def _submit(self, _button: Any = None) -> TaggedOutput:
        self.result = tag(
            self.obj,
            title=self.title.value or None,
            statbarn=self.statbarn.value or None,
            description=self.description.value,
            justification=self.justification.value,
            suppression_notes=self.suppression_notes.value,
            **self.tag_kwargs,
        )
        self.status.value = (
            f"Tagged as <code>{html.escape(self.result.id)}</code> v{self.result.version}"
            f" ({self.result.status})"
        )
        return self.result

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def form(obj: Any, title: str = "", statbarn: str | None = None, **tag_kwargs: Any) -> TagForm:
    """An ipywidgets form to tag ``obj``: statbarn dropdown with guidance, live verdict."""
    return TagForm(obj, title=title, statbarn=statbarn, **tag_kwargs)
