"""The agent graph: perceiver and listener, then the reasoner, the critic loop, then QA.

Work proceeds in rounds over a batch of clips: every call of one round goes to its backend in
one ``generate`` call, so HTTP backends keep many requests in flight and batch engines (the
run's vLLM engine actors) see large batches. Each response is cached, parsed, validated against the
agent's schema and repaired a bounded number of times; a clip whose agent cannot produce valid
output ends with a recorded reason, never an exception.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from emodata.annotate import critic, notes, prompts, render
from emodata.annotate.backends import Backend, Request, Response
from emodata.annotate.cache import ResponseCache, cache_key, input_hash
from emodata.annotate.evidence import Evidence
from emodata.annotate.settings import AnnotateConfig
from emodata.errors import Reason
from emodata.records import ClipRecord

log = logging.getLogger(__name__)


@dataclass
class Clip:
    key: str
    record: ClipRecord
    evidence: Evidence
    images: list[bytes] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: tuple[Reason, str] | None = None
    verdict: str | None = None
    reasons: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    revisions: int = 0
    feedback: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every revision request, in order
    check_runs: dict[str, list[int]] = field(default_factory=dict)  # check -> [runs, failures]

    def __post_init__(self) -> None:
        if isinstance(self.record, dict):  # a sample JSON, as re-annotation reads it
            self.record = ClipRecord.from_dict(self.record)


@dataclass
class _Call:
    clip: Clip
    agent: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any]
    key: str = ""
    #: the schema the backend decodes under, narrowed by what was measured; answers are
    #: validated against ``schema`` so a backend without structured output meets the critic
    #: (a revision request naming the check), not a schema error
    asked: dict[str, Any] | None = None
    attempts: int = 0
    spent: dict[str, float] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "latency_s": 0.0}
    )


class Annotator:
    def __init__(
        self,
        cfg: AnnotateConfig,
        backends: dict[str, Backend],
        cache: ResponseCache | None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        #: notes for the run's progress view: a round of model calls can take minutes
        self.say = say or (lambda _text: None)
        self.backends = backends
        self.cache = cache
        self.labels = list(cfg.taxonomy)
        #: the reasoner only chooses the emotion; texts are rendered (annotate.texts)
        self.rendered = cfg.texts == "rendered"

    # ---- the graph -------------------------------------------------------------------------
    def renders(self, agent: str) -> bool:
        """Perceiver and listener notes come from the measurements unless the model sees frames."""
        return (
            agent in {"perceiver", "listener"}
            and not self.backends[self.cfg.agents[agent].backend].vision
        )

    def _render(self, c: Clip, agent: str) -> None:
        if agent == "perceiver":
            c.outputs[agent] = notes.perceiver(c.evidence, self.cfg.min_claimed_score)
        else:
            transcript = c.record.transcript
            c.outputs[agent] = notes.listener(c.evidence, transcript, self.cfg.silence_ratio)
        c.usage[agent] = _usage(notes.RENDERED) | {"rendered": 1}

    def run(self, clips: list[Clip]) -> None:
        first = [a for a in ("perceiver", "listener") if self.cfg.agents[a].enabled]
        for a in [a for a in first if self.renders(a)]:
            for c in clips:
                self._render(c, a)
        self._round([self._call(c, a) for c in clips for a in first if not self.renders(a)])
        self._round([self._call(c, "reasoner") for c in self._ok(clips)])
        pending = self._ok(clips)
        while pending:
            review = []
            for c in pending:
                checks = critic.ground(
                    self.tree(c),
                    c.evidence,
                    self.cfg.taxonomy,
                    min_claimed_score=self.cfg.min_claimed_score,
                    silence_ratio=self.cfg.silence_ratio,
                    neutral_label=self.cfg.neutral_label,
                    no_evidence_valence=self.cfg.no_evidence_valence,
                    no_evidence_confidence=self.cfg.no_evidence_confidence,
                    vision=self._vision(),
                )
                c.checks = [k.as_dict() for k in checks]
                for k in checks:
                    runs = c.check_runs.setdefault(k.name, [0, 0])
                    runs[0] += 1
                    runs[1] += 0 if k.ok else 1
                failed = [k.reason() for k in checks if not k.ok]
                if failed:
                    self._decide(c, "revise", failed)
                elif self.cfg.critic_llm and self.cfg.agents["critic"].enabled:
                    review.append(c)
                else:
                    self._decide(c, "accept", [])
            self._round([self._call(c, "critic") for c in review])
            for c in review:
                if c.error is None:
                    out = c.outputs["critic"]
                    reasons = [f"critic_llm: {r}" for r in out["reasons"] if r.strip()]
                    if out["verdict"] != "accept" and not reasons:
                        reasons = [f"critic_llm: answered {out['verdict']} without a reason"]
                    self._decide(c, out["verdict"], reasons)
            pending = [c for c in self._ok(pending) if c.verdict is None]
            self._round([self._call(c, "reasoner") for c in pending])
            pending = self._ok(pending)
        if self.cfg.agents["qa"].enabled:
            accepted = [c for c in self._ok(clips) if c.verdict in {"accepted", "revised"}]
            if self.rendered:
                for c in accepted:
                    c.outputs["qa"] = {"qa": render.qa(self.tree(c), c.evidence, self.cfg)}
                    c.usage["qa"] = _usage(notes.RENDERED) | {"rendered": 1}
            else:
                self._round([self._call(c, "qa") for c in accepted])

    def _decide(self, c: Clip, verdict: str, reasons: list[str]) -> None:
        if verdict == "accept":
            c.verdict = "revised" if c.revisions else "accepted"
            return
        if verdict == "revise" and c.revisions < self.cfg.max_revisions:
            c.revisions += 1
            c.feedback = reasons
            c.requests.extend(reasons)
            return
        c.verdict = "rejected"
        c.reasons = reasons or ["critic_llm: rejected without a reason"]

    def _vision(self) -> bool:
        return self.backends[self.cfg.agents["perceiver"].backend].vision

    @staticmethod
    def _ok(clips: list[Clip]) -> list[Clip]:
        return [c for c in clips if c.error is None]

    # ---- messages --------------------------------------------------------------------------
    def _data(self, c: Clip, agent: str) -> dict[str, Any]:
        ev = c.evidence
        cues = {k: v["text"] for k, v in ev.cues.items()}
        if agent == "perceiver":
            keep = ("clip.", "visual.", "face.", "faces.")
            return {"cues": {k: v for k, v in cues.items() if k.startswith(keep)}}
        if agent == "listener":
            keep = ("clip.", "speech.", "audio.", "words.", "voice.")
            return {
                "transcript": ev.transcript if ev.transcript else None,
                "cues": {k: v for k, v in cues.items() if k.startswith(keep)},
            }
        shown = {k: cues[k] for k in self.catalog(ev)}
        if agent == "reasoner":
            # what settles the label first, compactly; then the catalog to cite from
            summary = {k: v for k, v in shown.items() if k.startswith("modality.")}
            data: dict[str, Any] = {"transcript": ev.transcript or None}
            ranked = self._ranked(ev)
            if ranked and self.rendered:
                # no numbers beside the labels: a small model copies a FER share into valence
                data["labels"] = {
                    label: "supported by " + ", ".join(dict.fromkeys(x.source for x in why))
                    if why
                    else "nothing measured: the fallback"
                    for label, why in ranked.items()
                }
            elif ranked:
                data["labels"] = {
                    label: "; ".join(_said(x) for x in why) or "nothing measured: the fallback"
                    for label, why in ranked.items()
                }
            data["summary"] = summary
            if self.rendered:
                # the emotion is chosen from the summary; the cues behind it are rendered
                if c.feedback:
                    data["previous_emotion"] = (c.outputs.get("reasoner") or {}).get("emotion")
                    data["critic_feedback"] = c.feedback
                return data
            data["cues"] = {k: v for k, v in shown.items() if k not in summary}
            for up in ("perceiver", "listener"):
                if up in c.outputs:
                    data[up] = c.outputs[up]
                if up in data and self.renders(up):
                    # rendered notes restate the cues above; only the perceiver's expression
                    # spans (when each expression shows) add to them. Prompt tokens are most of
                    # a CPU server's time.
                    rendered = data.pop(up)
                    spans = rendered.get("expressions") if up == "perceiver" else None
                    spans = [e for e in spans or [] if _cited_ok(e, shown)]
                    if spans:
                        data[up] = {"expressions": spans}
            if c.feedback:
                data["previous_tree"] = _brief(c.outputs.get("reasoner") or {})
                data["critic_feedback"] = c.feedback
            return data
        tree = self.tree(c)
        body = {
            k: tree[k]
            for k in ("attributes", "expressions", "emotion", "rationale", "conflict", "caption")
        }
        if agent == "critic":
            return {"cues": shown, "tree": body}
        return {"tree": body}

    def catalog(self, ev: Evidence) -> list[str]:
        """The cue ids the reasoner and critic see and may cite, most telling first: the
        modality summary, words, voice, the main face, speech and audio, then the scene. Other
        face tracks than the main subject's are left out (faces.count still counts them): a
        group photo would otherwise double the prompt, and the label is about the subject."""
        main = ev.main_track
        ids = [
            k for k in ev.cues if not (main and k.startswith("face.") and k.split(".")[1] != main)
        ]
        first = ("modality.", "words.", "voice.", "face.", "speech.", "audio.", "faces.")
        return sorted(
            ids, key=lambda k: next((i for i, p in enumerate(first) if k.startswith(p)), 99)
        )

    def _ranked(self, ev: Evidence) -> dict[str, list[critic.Support]]:
        """Labels some measurement (or the transcript) supports, strongest first; empty when
        nothing was measured or the clip has no face and no speech (neutral is pinned then)."""
        if not ev.modality.measured or critic.no_evidence(ev, self.cfg.silence_ratio):
            return {}
        return critic.offered_labels(
            ev.modality,
            self.cfg.taxonomy,
            self.cfg.min_claimed_score,
            self.cfg.neutral_label,
            transcript=not self.rendered,
        )

    def _call(self, c: Clip, agent: str) -> _Call:
        acfg = self.cfg.agents[agent]
        backend = self.backends[acfg.backend]
        ev = c.evidence
        cited = self.catalog(ev) if agent in {"reasoner", "critic"} else list(ev.cues)
        tracks = sorted({k.split(".")[1] for k in cited if k.startswith("face.")})
        schema = prompts.output_schema(
            agent, self.labels, cited, tracks, self.cfg.limits, acfg.max_tokens
        )
        variant = ""
        if agent == "reasoner" and self.rendered:
            schema, variant = prompts.emotion_only(schema), "emotion"
        asked = self._narrow(schema, ev) if agent == "reasoner" else None
        system = prompts.system_prompt(agent, acfg, self.labels, self.cfg.limits, variant)
        images = c.images if agent == "perceiver" and backend.vision else None
        messages = [
            {"role": "system", "content": system},
            prompts.data_message(self._data(c, agent), images),
        ]
        inputs = input_hash([messages, asked or schema, acfg.max_tokens, acfg.temperature])
        key = cache_key(c.key, agent, acfg.prompt_version, backend.model_id, inputs)
        return _Call(c, agent, messages, schema, key, asked=asked)

    def _narrow(self, base: dict[str, Any], ev: Evidence) -> dict[str, Any]:
        """What the measurements already settle goes into the reasoner's schema, so structured
        output cannot contradict it (the critic checks the same, for backends without it): a
        clip with no face and no speech is neutral, near zero valence, low confidence; a
        measured modality conflict must be written out."""
        schema = copy.deepcopy(base)
        props = schema["properties"]
        if critic.no_evidence(ev, self.cfg.silence_ratio):
            emo = props["emotion"]["properties"]
            emo["label"] = {"enum": [self.cfg.neutral_label]}
            v = self.cfg.no_evidence_valence
            emo["valence"] = {"type": "number", "minimum": -v, "maximum": v}
            emo["confidence"] = {
                "type": "number",
                "minimum": 0,
                "maximum": self.cfg.no_evidence_confidence,
            }
        ranked = self._ranked(ev)
        if ranked:
            # only labels a measurement or the transcript speaks for (check_label_supported),
            # the best supported first
            props["emotion"]["properties"]["label"] = {"enum": list(ranked)}
        if ev.modality.conflicts and "conflict" in props:
            longest = props["conflict"].get("maxLength", 400)
            props["conflict"]["minLength"] = min(30, longest)
        if "expressions" in props:
            self._expressions_measured(props["expressions"], ev)
        self._affect_signs(props["emotion"]["properties"], ev)
        props["emotion"] = self._valence_per_label(props["emotion"])
        return schema

    def _expressions_measured(self, node: dict[str, Any], ev: Evidence) -> None:
        """No facial expression without a face, no vocal one without speech (faces_exist,
        speech_measured, no_evidence_neutral)."""
        item = node["items"]["properties"]
        kinds = list(item["modality"].get("enum") or [])
        if not ev.has_face():
            kinds = [k for k in kinds if k != "facial"]
        if not ev.has_speech(self.cfg.silence_ratio):
            kinds = [k for k in kinds if k != "vocal"]
        if critic.no_evidence(ev, self.cfg.silence_ratio) or not kinds:
            node["maxItems"] = 0
        else:
            item["modality"] = {"enum": kinds}

    @staticmethod
    def _affect_signs(emo: dict[str, Any], ev: Evidence, min_level: float = 0.2) -> None:
        """Where every modality that measured valence (or arousal) clearly has one sign, the
        answer may not clearly take the other (check_affect_agrees)."""
        for dim in ("valence", "arousal"):
            if dim not in emo:
                continue
            measured = (ev.modality.get(k) for k in critic.MODALITY_NAMES)
            values = [getattr(m, dim) for m in measured if m is not None]
            clear = [float(x) for x in values if x is not None and abs(float(x)) >= min_level]
            node = dict(emo[dim])
            if clear and all(x > 0 for x in clear):
                node["minimum"] = max(node.get("minimum", -1.0), -min_level + 0.01)
            elif clear and all(x < 0 for x in clear):
                node["maximum"] = min(node.get("maximum", 1.0), min_level - 0.01)
            if node.get("minimum", -1.0) <= node.get("maximum", 1.0):
                emo[dim] = node

    def _valence_per_label(self, emo: dict[str, Any]) -> dict[str, Any]:
        """One branch per label (``anyOf``), its valence bounded by the taxonomy's range for
        that label, so a decoder under the schema cannot write 'sad' with valence +0.8 (the
        critic's ``valence_matches_label`` stays for backends without structured output)."""
        labels = emo["properties"]["label"]["enum"]
        if "valence" not in emo["properties"]:
            return emo
        branches = []
        for label in labels:
            lo, hi = self.cfg.taxonomy.get(label, (-1.0, 1.0))
            branch = copy.deepcopy(emo)
            valence = branch["properties"]["valence"]
            lo = max(lo, valence.get("minimum", lo))
            hi = min(hi, valence.get("maximum", hi))
            branch["properties"]["label"] = {"enum": [label]}
            branch["properties"]["valence"] = {**valence, "minimum": lo, "maximum": hi}
            branches.append(branch)
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    # ---- one round -------------------------------------------------------------------------
    def _round(self, calls: list[_Call]) -> None:
        todo = []
        for call in calls:
            hit = self.cache.get(call.key) if self.cache is not None else None
            if hit is not None and self._accept(call, hit["text"], hit, cached=True):
                continue
            todo.append(call)
        while todo:
            by_backend: dict[str, list[_Call]] = {}
            for call in todo:
                by_backend.setdefault(self.cfg.agents[call.agent].backend, []).append(call)
            retry: list[_Call] = []
            for name, group in by_backend.items():
                reqs = [self._request(i, call) for i, call in enumerate(group)]
                agents = "/".join(sorted({c.agent for c in group}))
                self.say(f"annotate: {len(reqs)} {agents} call(s) on the model, waiting")
                t0 = time.perf_counter()
                responses = self.backends[name].generate(reqs)
                took = time.perf_counter() - t0
                tokens = sum(r.completion_tokens for r in responses)
                self.say(
                    f"annotate: {len(reqs)} {agents} call(s) answered in {took:.0f} s "
                    f"({tokens} output tokens)"
                )
                log.info(
                    "annotate: %d %s call(s) on %s in %.1f s (%d output tokens)",
                    len(reqs),
                    agents,
                    name,
                    took,
                    tokens,
                )
                for call, resp in zip(group, responses, strict=True):
                    retry.extend(self._handle(call, resp))
            todo = retry

    def _request(self, i: int, call: _Call) -> Request:
        acfg = self.cfg.agents[call.agent]
        return Request(
            id=f"{call.clip.key}:{call.agent}:{i}",
            messages=call.messages,
            schema=call.asked or call.schema,
            schema_name=call.agent,
            max_tokens=acfg.max_tokens,
            temperature=acfg.temperature,
        )

    def _handle(self, call: _Call, resp: Response) -> list[_Call]:
        call.attempts += 1
        self._count(call, resp)
        if resp.error is not None:
            call.clip.error = (Reason.LLM_ERROR, f"{call.agent}: {resp.error}")
            return []
        text = resp.text or ""
        entry = {
            "text": text,
            "prompt_tokens": int(call.spent["prompt_tokens"]),
            "completion_tokens": int(call.spent["completion_tokens"]),
            "latency_s": round(call.spent["latency_s"], 4),
            "model": self.backends[self.cfg.agents[call.agent].backend].model_id,
        }
        problem = self._parse(call, text)
        if problem is None:
            if self.cache is not None:
                self.cache.put(call.key, entry)
            return []
        if call.attempts > self.cfg.repair_retries:
            call.clip.error = (
                Reason.LLM_INVALID_OUTPUT,
                f"{call.agent}: {problem} (after {call.attempts} answer(s))",
            )
            return []
        log.info("%s on %s: %s; asking again", call.agent, call.clip.key, problem)
        call.messages = prompts.repair_messages(call.messages, text, problem)
        return [call]

    def _parse(self, call: _Call, text: str) -> str | None:
        """Store the parsed output and return None, or describe what is wrong with it."""
        body = text.strip()
        if body.startswith("```"):
            body = body.strip("`").removeprefix("json").strip()
        try:
            # a raw newline or tab inside a string is the model's slip, not a wrong answer
            value = json.loads(body, strict=False)
        except ValueError as e:
            return f"not JSON ({e.msg} at char {e.pos})"
        value = clamp(value, call.schema)
        try:
            jsonschema.validate(value, call.schema)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path) or "top level"
            return f"schema violation at {where}: {e.message[:200]}"
        call.clip.outputs[call.agent] = finish_texts(value, call.schema)
        return None

    def _accept(self, call: _Call, text: str, entry: dict[str, Any], cached: bool) -> bool:
        if self._parse(call, text) is not None:
            return False
        u = call.clip.usage.setdefault(call.agent, _usage(entry["model"]))
        u["prompt_tokens"] += int(entry.get("prompt_tokens", 0))
        u["completion_tokens"] += int(entry.get("completion_tokens", 0))
        u["latency_s"] += float(entry.get("latency_s", 0.0))
        u["cached"] += 1
        return True

    def _count(self, call: _Call, resp: Response) -> None:
        model = self.backends[self.cfg.agents[call.agent].backend].model_id
        u = call.clip.usage.setdefault(call.agent, _usage(model))
        u["calls"] += resp.attempts
        u["prompt_tokens"] += resp.prompt_tokens
        u["completion_tokens"] += resp.completion_tokens
        u["latency_s"] += resp.latency_s
        if resp.image_tokens:
            u["image_tokens"] = u.get("image_tokens", 0) + resp.image_tokens
        call.spent["prompt_tokens"] += resp.prompt_tokens
        call.spent["completion_tokens"] += resp.completion_tokens
        call.spent["latency_s"] += resp.latency_s

    # ---- the result ------------------------------------------------------------------------
    def tree(self, c: Clip) -> dict[str, Any]:
        """The tree, with ``sources``: per field, ``measured``, written by a ``model`` or
        ``rendered`` from the measurements and the model's emotion (annotate.texts)."""
        r = c.outputs.get("reasoner", {})
        if self.rendered and r:
            emo = dict(r.get("emotion") or {})
            if "terms" in emo:
                emo["terms"] = render.terms(emo)
            r = {
                "expressions": render.expressions(c.evidence, self.cfg),
                "emotion": emo,
                "rationale": render.rationale(c.evidence, emo, self.cfg),
                "conflict": render.conflict(c.evidence, emo, self.cfg),
                "caption": render.caption(c.evidence, emo, self.cfg),
            }
        written = [] if self.renders("perceiver") else c.outputs.get("perceiver", {})
        attributes, sources = notes.merge_attributes(
            c.evidence, (written or {}).get("attributes") or [], self._vision()
        )
        for agent in ("perceiver", "listener"):
            if agent in c.outputs:
                sources[f"notes.{agent}"] = notes.MEASURED if self.renders(agent) else notes.MODEL
        for key in ("expressions", "emotion", "rationale", "conflict", "caption", "qa"):
            if key == "qa" and "qa" not in c.outputs:
                continue
            if key in r or key == "qa":
                written = self.rendered and key != "emotion"
                sources[key] = render.RENDERED if written else notes.MODEL
        return {
            "attributes": attributes,
            "expressions": r.get("expressions", []),
            "emotion": r.get("emotion", {}),
            "rationale": r.get("rationale", []),
            "conflict": r.get("conflict", ""),
            "caption": r.get("caption", ""),
            "qa": c.outputs.get("qa", {}).get("qa", []),
            "sources": sources,
        }


def clamp(value: Any, schema: dict[str, Any]) -> Any:
    """Numbers pulled into their schema's [minimum, maximum].

    Grammar-constrained decoders (lm-format-enforcer, some servers) fix the syntax but not
    numeric ranges; a valence of 1.3 or a start time of -2 is brought to the bound rather than
    thrown away. Everything else is left for the schema check.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and schema.get("type") in {"number", "integer"}:
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: clamp(v, props[k]) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [clamp(v, schema["items"]) for v in value]
    return value


_SENTENCE_END = re.compile(r"[.!?…][\"')\]]?(?=\s|$)")


def finish_texts(value: Any, schema: dict[str, Any]) -> Any:
    """Texts that a decoder under the schema cut at their maxLength end at their last full
    sentence instead of mid-word, where one ends past half the text and the schema's minLength
    still holds; other texts are left as written."""
    if isinstance(value, str):
        limit = schema.get("maxLength")
        text = value.rstrip()
        if limit is None or len(value) < limit - 1 or _SENTENCE_END.search(text[-2:]):
            return value
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        if ends and ends[-1] >= max(len(text) // 2, schema.get("minLength", 0)):
            return text[: ends[-1]]
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: finish_texts(v, props[k]) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [finish_texts(v, schema["items"]) for v in value]
    return value


def _said(support: critic.Support) -> str:
    """A label's support as the reasoner reads it; the transcript's is only its name (its
    valence is in the summary, and six labels would repeat it)."""
    return support.source if support.source == "transcript" else str(support)


def _cited_ok(note: dict[str, Any], shown: dict[str, Any]) -> bool:
    return all(c in shown for c in note.get("cues") or [])


def _brief(value: Any, chars: int = 300) -> Any:
    """A previous tree as sent back for revision: long strings cut, so that a small model's
    looping caption does not push the prompt past the context."""
    if isinstance(value, str):
        return value[:chars]
    if isinstance(value, dict):
        return {k: _brief(v, chars) for k, v in value.items()}
    if isinstance(value, list):
        return [_brief(v, chars) for v in value]
    return value


def _usage(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "calls": 0,
        "cached": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "latency_s": 0.0,
    }
