#!/usr/bin/env python3
"""On-topic unanswerable questions for a document-level QA set (issue 12, item 3).

CMU Wikipedia QA's "unanswerable" label means that one student answerer wrote NULL, not that the article lacks the
answer (eval/RESULTS.md, label audit: 14 of 19 sampled are answered in the article). This builds the set the
target means from the dataset's answerable questions instead:

* a question is usable when one of its gold answers (at least 3 characters, not "yes"/"no") occurs in its
  article as a whole word sequence;
* in each article, every second usable question (file order) is withheld: every sentence of the article that
  contains one of its answers is cut out of the article's text, so the question stays on topic (the rest of
  the article is there) and its answer is not;
* the other usable questions stay answerable only if none of the sentences holding their answer was cut
  (questions half-cut are left out), and a withheld question whose answer still occurs elsewhere is left out.

Yes/no questions and the dataset's NULL-labelled questions are left out (their answer cannot be located).

    python3 eval/scripts/withhold_answers.py ../shared/datasets/cmu-wikipedia-qa /tmp/cmu-withheld
    rag eval --index /tmp/qa/cmuw qa --dataset /tmp/cmu-withheld --limit 200 --json --out cmuw.json

Writes OUT/corpus.jsonl (every article, the cut ones cut) and OUT/qa.dev.jsonl (the usable questions, with
"answerable" set as above). Deterministic.
"""
import json
import os
import re
import sys

YES_NO = re.compile(r"^(yes|no)\b", re.I)


def sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if s.strip()]


def answers(question):
    if not question["answerable"]:
        return []
    out = []
    for answer in question["answers"]:
        answer = answer.strip().rstrip(".")
        if len(answer) >= 3 and not YES_NO.match(answer):
            out.append(answer)
    return out


def holds(text, wanted):
    return any(re.search(r"(?<!\w)" + re.escape(a) + r"(?!\w)", text, re.I) for a in wanted)


def main(dataset, out):
    corpus = [json.loads(line) for line in open(f"{dataset}/corpus.jsonl", encoding="utf-8")]
    questions = [json.loads(line) for line in open(f"{dataset}/qa.dev.jsonl", encoding="utf-8")]
    by_doc = {}
    for q in questions:
        by_doc.setdefault(q["doc_id"], []).append(q)
    counts = {True: 0, False: 0}
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/corpus.jsonl", "w", encoding="utf-8") as corpus_out, open(
        f"{out}/qa.dev.jsonl", "w", encoding="utf-8"
    ) as qa_out:
        for doc in corpus:
            text = doc["text"]
            usable = [q for q in by_doc.get(doc["_id"], []) if answers(q) and holds(text, answers(q))]
            withheld = usable[1::2]
            pieces = sentences(text)
            cut = {i for q in withheld for i, s in enumerate(pieces) if holds(s, answers(q))}
            kept_text = text
            for i in sorted(cut):
                kept_text = kept_text.replace(pieces[i], "", 1)
            corpus_out.write(json.dumps({**doc, "text": kept_text}, ensure_ascii=False) + "\n")
            for q in usable:
                answerable = holds(kept_text, answers(q))
                if (q in withheld) == answerable:
                    continue
                if answerable and any(i in cut for i, s in enumerate(pieces) if holds(s, answers(q))):
                    continue
                qa_out.write(json.dumps({**q, "answerable": answerable}, ensure_ascii=False) + "\n")
                counts[answerable] += 1
    print(f"{counts[False]} withheld (unanswerable), {counts[True]} answerable", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: withhold_answers.py DATASET_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
