"""Annotation quality figures: DuckDB over a run's index, for ``emodata stats`` and the card.

What a trainer asks before using the annotations: how many trees the critic kept (accepted or
revised) and why the others went back or out, how often each deterministic check passed, the
label distribution, how many clips had modalities in conflict, how much of the tree was measured
rather than written by a model, and, where the input manifest carried a ``label`` (a labelled
corpus re-annotated), how well the labels agree with it: accuracy, macro-F1 over the labels seen
on either side, and the confusion table (rows: manifest label, columns: annotated label).
"""

from __future__ import annotations

from typing import Any

from emodata.stats import _one, _rows, connect

_ANNOTATED = "critic_verdict is not null"
_GOLD = "nullif(lower(trim(label)), '')"


def kept(con: Any) -> dict[str, Any]:
    row = _one(
        con,
        f"""select count(*) as annotated,
                   count(*) filter (where critic_verdict = 'accepted') as accepted,
                   count(*) filter (where critic_verdict = 'revised') as revised,
                   count(*) filter (where critic_verdict = 'rejected') as rejected
            from idx where {_ANNOTATED}""",
    )
    n = row["annotated"] or 0
    row["kept_share"] = round((row["accepted"] + row["revised"]) / n, 3) if n else None
    return row


def verdicts_by_reason(con: Any) -> list[dict[str, Any]]:
    """Clips per verdict and check id: rejections by their reasons, revisions by the requests."""
    return _rows(
        con,
        f"""with r as (
              select key, critic_verdict as verdict,
                     list_distinct(list_transform(
                       from_json(case when critic_verdict = 'rejected'
                                      then coalesce(critic_reasons, '[]')
                                      else coalesce(critic_requests, '[]') end, '["VARCHAR"]'),
                       lambda x: split_part(x, ':', 1))) as ids
              from idx where {_ANNOTATED})
            select verdict, reason, count(distinct key) as clips
            from (select key, verdict,
                         unnest(case when len(ids) = 0 then ['(none)'] else ids end) as reason
                  from r)
            group by all order by verdict, clips desc, reason""",
    )


def check_pass_rates(con: Any) -> list[dict[str, Any]]:
    """Per deterministic check: evaluations over all critic rounds, failures, pass rate."""
    return _rows(
        con,
        """select name as check_id,
                  sum(cast(json_extract(critic_checks, '$.' || name || '.runs') as bigint))
                      as runs,
                  sum(cast(json_extract(critic_checks, '$.' || name || '.failed') as bigint))
                      as failed,
                  round(1 - sum(cast(json_extract(critic_checks, '$.' || name || '.failed')
                                     as double))
                          / nullif(sum(cast(json_extract(critic_checks,
                                                         '$.' || name || '.runs') as double)),
                                   0), 3) as pass_rate
           from (select critic_checks, unnest(json_keys(critic_checks)) as name
                 from idx where critic_checks is not null)
           group by all order by pass_rate, check_id""",
    )


def label_distribution(con: Any) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""select emotion_label as label, count(*) as clips,
                   count(*) filter (where critic_verdict in ('accepted', 'revised')) as kept,
                   round(avg(valence), 2) as mean_valence, round(avg(arousal), 2) as mean_arousal,
                   round(avg(emotion_confidence), 2) as mean_confidence
            from idx where {_ANNOTATED} group by all order by clips desc, label""",
    )


def conflicts_and_fields(con: Any) -> dict[str, Any]:
    row = _one(
        con,
        f"""select count(modality_conflict) as clips_with_summary,
                   count(*) filter (where modality_conflict) as conflicts,
                   coalesce(sum(fields_measured), 0) as fields_measured,
                   coalesce(sum(fields_model), 0) as fields_model
            from idx where {_ANNOTATED}""",
    )
    n = row["clips_with_summary"]
    row["conflict_share"] = round(row["conflicts"] / n, 3) if n else None
    fields = row["fields_measured"] + row["fields_model"]
    row["measured_share"] = round(row["fields_measured"] / fields, 3) if fields else None
    return row


def agreement(con: Any) -> dict[str, Any] | None:
    """Accuracy, macro-F1 and confusion against the manifest's ``label``; None without one."""
    pairs = f"""(select {_GOLD} as gold, emotion_label as pred from idx
                 where {_ANNOTATED} and {_GOLD} is not null and emotion_label is not null)"""
    scores = _one(
        con,
        f"""with p as {pairs},
                 classes as (select gold as c from p union select pred from p),
                 per as (select c,
                                count(*) filter (where gold = c and pred = c) as tp,
                                count(*) filter (where gold <> c and pred = c) as fp,
                                count(*) filter (where gold = c and pred <> c) as fn
                         from classes, p group by c)
            select (select count(*) from p) as clips,
                   (select count(*) filter (where gold = pred) from p) as correct,
                   (select avg(case when 2 * tp + fp + fn = 0 then 0.0
                                    else 2.0 * tp / (2 * tp + fp + fn) end) from per)
                       as macro_f1""",
    )
    if not scores["clips"]:
        return None
    cells = _rows(con, f"select gold, pred, count(*) as n from {pairs} group by all")
    mapped = _one(
        con,
        f"""select count(*) as n from idx where {_ANNOTATED} and {_GOLD} is not null
            and json_extract_string(source_meta, '$.label_original') is not null""",
    )["n"]
    preds = sorted({c["pred"] for c in cells})
    table: dict[str, dict[str, Any]] = {}
    for c in cells:
        row = table.setdefault(c["gold"], {"manifest_label": c["gold"], **dict.fromkeys(preds, 0)})
        row[c["pred"]] = c["n"]
    return {
        "clips": scores["clips"],
        "correct": scores["correct"],
        "accuracy": round(scores["correct"] / scores["clips"], 3),
        "macro_f1": round(float(scores["macro_f1"]), 3),
        "mapped_labels": mapped,
        "confusion": [table[g] for g in sorted(table)],
    }


def quality(out_dir: str) -> dict[str, Any] | None:
    """Every figure above, or None when no clip was annotated."""
    with connect(out_dir) as con:
        k = kept(con)
        if not k["annotated"]:
            return None
        return {
            "kept": k,
            "verdicts": verdicts_by_reason(con),
            "checks": check_pass_rates(con),
            "labels": label_distribution(con),
            "modalities": conflicts_and_fields(con),
            "agreement": agreement(con),
        }
