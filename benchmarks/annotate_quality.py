"""Annotation quality per embedded model, on the generated sample set (its manifest carries the
intended labels) plus a clip with no face and no speech.

For each model the whole pipeline runs through the CLI with `make demo`'s settings (the model
swapped), timed; then the figures a trainer asks for are read from the run:
- kept share (accepted or revised) and rejections without a named reason;
- label agreement with the intended labels on the six single-emotion talking clips, and whether
  two of them share the same (label, valence, arousal);
- what the clip without face or speech got (label, valence, confidence, any facial claim);
- cited cue ids that do not exist, attribute values without a measured basis;
- complete trees (label, valence, arousal, rationale, caption and QA all present).

    .venv/bin/python benchmarks/annotate_quality.py [--models qwen2.5-coder-1.5b-instruct ...]

``--reannotate`` annotates the clips of the last full run again (their cues, transcripts and
faces as measured then) with the current prompts and schemas and no response cache: a change to
the annotate stage measured on the same evidence, without re-running the stages before it
(answers are cached in benchmarks/out/reannotate-MODEL/llm_cache, keyed by prompt and schema).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from _common import EMODATA, OUT, ROOT

DEMO_SET = [
    "annotate.batch_size=16",
    "annotate.backends.default.concurrency=16",
]
#: the rest of the Makefile's DEMO_SET: budgets a CPU server answers in minutes, and limits
#: that leave room in them for texts that finish
SMALL_BUDGETS = [
    "annotate.texts=rendered",
    "annotate.agents.reasoner.max_tokens=640",
    "annotate.agents.qa.max_tokens=400",
    "annotate.limits.max_steps=3",
    "annotate.limits.max_expressions=2",
    "annotate.limits.max_cues=2",
    "annotate.limits.caption_words=[20,60]",
    "annotate.limits.qa_pairs=[4,4]",
]
VERDICTS = ("accepted", "revised", "rejected")
TALKING = ("talk_000", "talk_001", "talk_002", "talk_003", "talk_004", "talk_005")
BLANK = "no_face_no_speech.mp4"


def inputs() -> Path:
    """The sample set plus a blank clip (a pattern with room tone, no face, no words)."""
    samples = OUT / "samples"
    if not (samples / "manifest.csv").exists():
        subprocess.run([*EMODATA, "samples", "make", str(samples)], check=True, cwd=ROOT)
    blank = samples / BLANK
    if not blank.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
             "cellauto=rule=110:size=320x240:rate=25", "-f", "lavfi", "-i",
             "anoisesrc=color=pink:amplitude=0.01", "-t", "6", "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(blank)],
            check=True,
        )  # fmt: skip
        with (samples / "manifest.csv").open("a", encoding="utf-8") as f:
            f.write(f"{BLANK},emodata-samples,CC0-1.0,neutral,\n")
    return samples / "manifest.csv"


def row_of(key: str, record) -> dict:
    """A sample as the figures read it: its index columns and its tree."""
    from emodata.projection import index_fields

    return {"__key__": key, **index_fields(record), "annotation": record.annotation}


def samples_of(out: Path) -> list[dict]:
    from emodata.records import ClipRecord

    found = []
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".json"):
                    record = ClipRecord.from_dict(json.load(tar.extractfile(m)))
                    found.append(row_of(m.name[:-5], record) | {"record": record})
    return found


def _name(rec: dict) -> str:
    return Path(rec.get("source_path") or "").name


def _verdicts(recs: list[dict]) -> dict:
    """Clips per verdict and check id (rejections by their reasons, the others by the revision
    requests they met), as emodata.quality counts them from the index."""
    out: dict[str, int] = {}
    for r in recs:
        verdict = r.get("critic_verdict")
        critic = r["annotation"].critic
        said = critic.reasons if verdict == "rejected" else critic.requests
        for check in sorted({x.split(":", 1)[0] for x in said or []} or {"(none)"}):
            out[f"{verdict}:{check}"] = out.get(f"{verdict}:{check}", 0) + 1
    return dict(sorted(out.items()))


def figures(out: Path | list[dict], wall_s: float) -> dict:
    found = samples_of(out) if isinstance(out, Path) else out
    recs = [r for r in found if r.get("annotation") is not None]
    n = len(recs)
    kept = {v: sum(r.get("critic_verdict") == v for r in recs) for v in VERDICTS}
    kept["kept_share"] = round((kept["accepted"] + kept["revised"]) / n, 3) if n else None
    talking = [r for r in recs if _name(r).startswith(TALKING)]
    correct = [r for r in talking if r.get("emotion_label") == r.get("label")]
    triples = [(r.get("emotion_label"), r.get("valence"), r.get("arousal")) for r in talking]
    blank = next((r for r in recs if _name(r) == BLANK), None)
    bad_cites = unmeasured = complete = 0
    cited = 0
    for r in recs:
        tree = r["annotation"]
        cites = [c for s in tree.rationale for c in s.cues]
        cites += [c for e in tree.expressions for c in e.cues]
        cited += len(cites)
        bad_cites += sum(c not in tree.cues for c in cites)
        for a in tree.attributes:
            for value in (a.age_range, a.gender_presentation):
                if value and not any(c.endswith((".age", ".gender")) for c in a.cues or []):
                    unmeasured += 1
        emo = tree.emotion
        complete += all(
            (emo.label, emo.valence is not None, emo.arousal is not None,
             tree.rationale, tree.caption, tree.qa)
        )  # fmt: skip
    rejected = [r for r in recs if r.get("critic_verdict") == "rejected"]
    unnamed = [r for r in rejected if not r["annotation"].critic.reasons]
    out_blank = None
    if blank is not None:
        tree = blank["annotation"]
        facial = [e for e in tree.expressions if e.modality == "facial"]
        out_blank = {
            "label": blank.get("emotion_label"),
            "valence": blank.get("valence"),
            "confidence": blank.get("emotion_confidence"),
            "facial_claims": len(facial),
            "verdict": blank.get("critic_verdict"),
        }
    return {
        "wall_s": round(wall_s, 1),
        "annotated": len(recs),
        "kept_share": kept.get("kept_share"),
        "verdicts": {k: kept.get(k) for k in VERDICTS},
        "rejections_without_reason": len(unnamed),
        "complete_trees": complete,
        "talking_correct": f"{len(correct)}/{len(talking)}",
        "talking": {
            _name(r): [r.get(k) for k in ("emotion_label", "valence", "arousal", "critic_verdict")]
            for r in talking
        },
        "talking_identical_triples": len(triples) - len(set(triples)),
        "blank_clip": out_blank,
        "cited_cue_ids": cited,
        "cited_missing": bad_cites,
        "attributes_unmeasured": unmeasured,
        "reasons": _verdicts(recs),
    }


def run(model: str, manifest: Path, small: bool, extra: list[str]) -> dict:
    out = OUT / f"quality-{model}"
    shutil.rmtree(out, ignore_errors=True)
    sets = [*DEMO_SET, f"annotate.backends.default.model={model}"]
    if small:
        sets += SMALL_BUDGETS
    sets += extra
    cmd = [*EMODATA, "run", "--input", str(manifest), "--output", str(out)]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return figures(out, time.perf_counter() - t0)


def reannotate(model: str, small: bool, extra: list[str], only: list[str]) -> dict:
    """The last full run's records annotated again, with no response cache, in one batch."""
    from emodata.annotate.session import prepare
    from emodata.config import load_config, parse_override
    from emodata.records import Item
    from emodata.stages.annotate import AnnotateStage

    run_dir = OUT / f"quality-{model}"
    sets = [*DEMO_SET, f"annotate.backends.default.model={model}"]
    sets += (SMALL_BUDGETS if small else []) + extra
    cfg = load_config(overrides=dict(parse_override(s) for s in sets)).annotate
    items = []
    for rec in samples_of(run_dir):
        if only and not _name(rec).startswith(tuple(only)):
            continue
        record = rec["record"]
        record.annotation = None  # what the annotate stage wrote: annotated again
        items.append(Item(rec["__key__"], record))
    scratch = OUT / f"reannotate-{model}"
    with prepare(cfg, str(scratch)) as session:
        # answers are cached by prompt, schema and model: an interrupted run resumes, a
        # changed prompt asks again
        stage = AnnotateStage(session.config, cache_url=str(scratch / "llm_cache"))
        stage.setup()
        t0 = time.perf_counter()
        try:
            stage.process(items)
        finally:
            stage.close()
        took = time.perf_counter() - t0
    recs = [row_of(i.key, i.record) for i in items]
    scratch.mkdir(parents=True, exist_ok=True)
    docs = [{"key": i.key, **i.record.to_dict(work=False)} for i in items]
    (scratch / "samples.json").write_text(json.dumps(docs, indent=1, ensure_ascii=False))
    failed = [i.error for i in items if not i.ok]
    return figures(recs, took) | {"annotate_failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-1.5b-instruct"])
    ap.add_argument(
        "--small-budgets",
        action="store_true",
        help="make demo's settings: texts rendered from the measurements, budgets and limits "
        "(reasoner 640 / QA 400 tokens, 3 steps, 20-60 word captions, 4 QA pairs)",
    )
    ap.add_argument("--figures-only", action="store_true", help="re-read existing runs")
    ap.add_argument(
        "--reannotate",
        action="store_true",
        help="annotate the last full run's clips again (same cues; timed: annotate only)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="PREFIX",
        help="--reannotate only the clips whose file name starts so (e.g. talk_ no_face)",
    )
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more config overrides (a busy machine: annotate.backends.default.timeout_s=1800)",
    )
    args = ap.parse_args()
    manifest = inputs()
    for model in args.models:
        if args.figures_only:
            result = figures(OUT / f"quality-{model}", float("nan"))
        elif args.reannotate:
            result = reannotate(model, args.small_budgets, args.sets, args.only)
        else:
            result = run(model, manifest, args.small_budgets, args.sets)
        print(f"== {model}")
        for k, v in result.items():
            print(f"  {k}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}")


if __name__ == "__main__":
    main()
