"""A sentiment data set generated offline by a seeded grammar (``dataset=sentiment_grammar``).

Each sentence is a review clause (``the food was very good``) whose polarity comes from its
adjective, with three things that a bag of words cannot read:

- negation (``was not good``, ``was never bad``) flips the clause's polarity;
- contrast: ``<clause> but <clause>`` takes the polarity of the clause after ``but``;
- intensifiers (``very``, ``extremely``) and distractors (``on tuesday``, ``i think``, neutral
  adjectives such as ``old``) change nothing.

A sentence is in the *negation subset* when the clause that decides its label is negated;
:func:`generate` marks it, and ``python -m src.data.sentiment_grammar <file.csv>`` writes the
set as a CSV with ``text``, ``label``, ``negation`` and ``contrast`` columns (bench/text.py
reports accuracy on that subset).
"""

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.data.text_files import LabelledTexts

CLASSES = ["negative", "positive"]
SUBJECTS = (
    "the food",
    "the service",
    "the staff",
    "our waiter",
    "the movie",
    "the room",
    "the price",
    "the music",
    "the pizza",
    "the hotel",
    "the coffee",
    "the ending",
)
POSITIVE = (
    "good",
    "great",
    "excellent",
    "delicious",
    "friendly",
    "wonderful",
    "amazing",
    "pleasant",
    "fantastic",
    "lovely",
)
NEGATIVE = (
    "bad",
    "terrible",
    "awful",
    "bland",
    "rude",
    "horrible",
    "boring",
    "disappointing",
    "poor",
    "dreadful",
)
INTENSIFIERS = ("very", "really", "extremely", "quite", "so", "incredibly")
NEGATIONS = ("not", "never")
VERBS = ("was", "is", "seemed", "felt")
OPENERS = ("i think", "honestly", "to be fair", "well", "overall", "yesterday")
TAILS = (
    "on tuesday",
    "in the evening",
    "near the station",
    "with my friends",
    "for the third time",
    "as usual",
    "this week",
)
NEUTRAL = ("old", "large", "blue", "new", "local", "small")  # fmt: skip


@dataclass
class Sentence:
    text: str
    label: int  # 1 positive, 0 negative
    negation: bool  # the clause deciding the label is negated
    contrast: bool  # two clauses joined by "but"


def _clause(rng: np.random.Generator, polarity: int, negated: bool) -> str:
    """A clause whose meaning has ``polarity`` (1/0); negated clauses use the opposite word."""
    adjectives = POSITIVE if polarity != negated else NEGATIVE
    subject = str(rng.choice(SUBJECTS))
    if rng.random() < 0.3:  # a neutral adjective: "the old hotel"
        subject = subject.replace("the ", f"the {rng.choice(NEUTRAL)} ", 1)
    words = [subject, str(rng.choice(VERBS))]
    if negated:
        words.append(str(rng.choice(NEGATIONS)))
    if rng.random() < 0.4:
        words.append(str(rng.choice(INTENSIFIERS)))
    words.append(str(rng.choice(adjectives)))
    if rng.random() < 0.3:
        words.append(str(rng.choice(TAILS)))
    return " ".join(words)


def generate(n: int = 4000, seed: int = 0) -> list[Sentence]:
    """``n`` sentences, balanced classes: 40 % one plain clause, 30 % one negated clause, 30 %
    ``<clause> but <clause>`` of opposite polarities (either clause negated half the time)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label, kind = i % 2, rng.random()
        if kind < 0.7:
            negated = kind >= 0.4
            text, contrast = _clause(rng, label, negated), False
        else:
            negated = bool(rng.random() < 0.5)
            first = _clause(rng, 1 - label, bool(rng.random() < 0.5))
            text, contrast = f"{first} but {_clause(rng, label, negated)}", True
        if rng.random() < 0.2:
            text = f"{rng.choice(OPENERS)} {text}"
        out.append(Sentence(text, label, negated, contrast))
    return out


def read_sentiment_grammar(num_samples: int = 4000, seed: int = 0) -> LabelledTexts:
    """The generated sentences as labelled texts (classes ``negative``, ``positive``)."""
    sentences = generate(num_samples, seed)
    return LabelledTexts(
        [s.text for s in sentences], [CLASSES[s.label] for s in sentences], class_names=CLASSES
    )


def write_csv(path: Path, n: int = 4000, seed: int = 0) -> None:
    """The sentences as a CSV: ``text``, ``label``, ``negation`` and ``contrast`` (0/1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "negation", "contrast"])
        for s in generate(n, seed):
            writer.writerow([s.text, CLASSES[s.label], int(s.negation), int(s.contrast)])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m src.data.sentiment_grammar <file.csv>")
    write_csv(Path(sys.argv[1]))
    print(f"wrote {sys.argv[1]}")
