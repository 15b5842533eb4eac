"""annotate: the multi-agent LLM annotators, as an actor pool (one set of backends per actor).

Runs after whichever of transcribe, faces and cues ran; the evidence catalog only holds what
they measured. Each clip leaves with an affective tree (``annotation`` in its JSON, validated
against schemas/annotation.schema.json), index columns for label, verdict, tokens and cost, or a
ledger reason when a model could not answer.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

from emodata.annotate import evidence, prompts
from emodata.annotate.backends import Backend, make_backend
from emodata.annotate.cache import ResponseCache
from emodata.annotate.engine import Annotator, Clip
from emodata.annotate.record import Annotation, Check, CriticResult
from emodata.annotate.settings import AGENTS, AnnotateConfig
from emodata.errors import Reason
from emodata.records import Item
from emodata.schemas import load_json
from emodata.stages.base import Resources, Stage

log = logging.getLogger(__name__)


def _images(item: Item, n: int) -> list[bytes]:
    frames = sorted(k for k in item.blobs if k.startswith("frame") and k.endswith(".jpg"))
    if frames and n:
        step = max(1, len(frames) // n)
        frames = frames[::step][:n]
    faces = sorted(k for k in item.blobs if k.startswith("face") and k.endswith("_0.jpg"))
    return [item.blobs[k] for k in frames[:n] + faces[:1]]


@dataclass
class AnnotateStage(Stage):
    config: AnnotateConfig
    cache_url: str | None = None
    name = "annotate"
    stateful = True
    backends: dict[str, Backend] = field(default_factory=dict)

    def __post_init__(self) -> None:
        used = {self.config.agents[a].backend for a in AGENTS if self.config.agents[a].enabled}
        gpus = max((self.config.backends[b].actor_gpus() for b in used), default=0.0)
        self.resources = Resources(
            cpus=self.config.cpus_per_actor, gpus=gpus, custom=dict(self.config.resources)
        )
        self.batch_size = self.config.batch_size
        self.concurrency = self.config.actors
        self._used = sorted(used)
        self._annotator: Annotator | None = None

    def setup(self) -> None:
        self.backends = {name: make_backend(self.config.backends[name]) for name in self._used}
        for backend in self.backends.values():
            backend.setup()
        cache = ResponseCache(self.cache_url) if self.cache_url else None
        self._annotator = Annotator(self.config, self.backends, cache, say=lambda t: self.say(t))

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()

    def process(self, items: list[Item]) -> list[Item]:
        if self._annotator is None:
            self.setup()
        assert self._annotator is not None
        todo = [i for i in items if i.ok]
        clips = [
            Clip(i.key, i.record, evidence.build(i.record), _images(i, self.config.frames_per_clip))
            for i in todo
        ]
        try:
            self._annotator.run(clips)
        except Exception as e:  # a bug in the graph must not take the run down
            log.error("annotate failed on a batch:\n%s", traceback.format_exc())
            for item in todo:
                item.fail(self.name, Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")
            return items
        for item, clip in zip(todo, clips, strict=True):
            if clip.error is not None:
                item.fail(self.name, *clip.error)
                continue
            try:
                self.finish(item, clip)
            except Exception as e:  # an invalid tree is a bug: ledger it, keep the batch
                log.error("annotate: bad tree for %s:\n%s", item.key, traceback.format_exc())
                item.fail(self.name, Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}")
        return items

    def finish(self, item: Item, clip: Clip) -> None:
        assert self._annotator is not None
        tree = Annotation.from_dict(self._annotator.tree(clip))
        tree.critic = CriticResult(
            verdict=clip.verdict or "rejected",
            reasons=list(clip.reasons),
            revisions=clip.revisions,
            requests=list(clip.requests),
            checks=[Check.from_dict(c) for c in clip.checks],
            check_runs={k: list(v) for k, v in clip.check_runs.items()},
        )
        tree.cues = clip.evidence.cues
        tree.provenance = self.provenance(clip)
        _validate(tree.to_dict())
        item.record.annotation = tree
        item.mark(self.name)

    def provenance(self, clip: Clip) -> dict[str, Any]:
        out = {}
        for agent, u in clip.usage.items():
            acfg = self.config.agents[agent]
            bcfg = self.config.backends[acfg.backend]
            price = self.config.prices.get(bcfg.model) or self.config.prices.get(u["model"])
            cost = 0.0
            if price is not None:
                cost = (
                    u["prompt_tokens"] * price.prompt_per_mtok
                    + u["completion_tokens"] * price.completion_per_mtok
                ) / 1e6
            rendered = self.config.texts == "rendered" and agent == "reasoner"
            system = prompts.system_prompt(
                agent,
                acfg,
                list(self.config.taxonomy),
                self.config.limits,
                "emotion" if rendered else "",
            )
            out[agent] = {
                "backend": "rendered" if u.get("rendered") else bcfg.kind,
                "model": u["model"],
                "prompt_version": acfg.prompt_version,
                "prompt_sha256": hashlib.sha256(system.encode()).hexdigest()[:16],
                **{k: v for k, v in u.items() if k != "model"},
                "latency_s": round(u["latency_s"], 3),
                "cost_usd": round(cost, 6),
            }
        return out


def _validate(tree: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(tree, load_json("annotation.schema.json"))
