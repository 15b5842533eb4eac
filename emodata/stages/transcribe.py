"""transcribe: language, text, segments and words with times, speech ratio; an actor pool.

The model loads once per actor in ``setup()``. Clips without audio or without speech get an
empty transcript (speech ratio 0), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from emodata.asr.base import AsrBackend, Transcript
from emodata.config import ASR_BACKENDS, TranscribeConfig
from emodata.media import wav_to_float32
from emodata.records import Item
from emodata.stages.base import Resources, Stage


def make_backend(config: TranscribeConfig) -> AsrBackend:
    """The ASR backend ``transcribe.backend`` names (``emodata.config.ASR_BACKENDS``)."""
    return ASR_BACKENDS.build(config)


@dataclass
class TranscribeStage(Stage):
    config: TranscribeConfig
    name = "transcribe"
    stateful = True

    def __post_init__(self) -> None:
        c = self.config
        self.resources = Resources(cpus=c.cpus_per_actor, gpus=c.num_gpus, custom=dict(c.resources))
        self.batch_size = c.batch_size
        self.concurrency = c.actors
        self.backend: AsrBackend | None = None

    def setup(self) -> None:
        self.backend = make_backend(self.config)
        self.backend.load()

    def process_item(self, item: Item) -> list[Item]:
        if self.backend is None:
            self.setup()
        assert self.backend is not None
        wav = item.blobs.get("wav")
        if wav is None:
            duration_s = item.record.clip.duration_s or 0.0
            transcript = Transcript.empty(duration_s, self.config.model, self.backend.name)
            item.mark(self.name, "no_audio")
        else:
            transcript = self.backend.transcribe(wav_to_float32(wav))
            item.mark(self.name)
        item.record.transcript = transcript
        return [item]
