"""Text classification figures for bench/RESULTS.md (run by hand, not by pytest).

1. Generated sentiment grammar (src/data/sentiment_grammar.py, 4,000 sentences, 80/20 split):
   bag-of-words logistic regression vs experiment=text_lstm, accuracy overall and on the
   negation / contrast subsets (the LSTM's from mode=predict on the test file).
2. yelp_labelled.txt (1,000 sentences), 5 seeded stratified folds, each model trained through
   ``train(cfg)`` on the fold's files with dataset=text_file (config only): BoW logistic,
   text_lstm, text_cnn, text_transformer, text_minilm; test accuracy mean +- std, wall time.

    python bench/text.py [grammar|yelp|all] [--models text_lstm,text_minilm,...]
"""

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import src.config.schema  # noqa: F401  registers the structured config
from src.config.compose import compose_config
from src.data.sentiment_grammar import generate

YELP = Path("/work/shared/data/sentiment_labelled_sentences/yelp_labelled.txt")
QUIET = ["print_config=false", "++callbacks.progress_bar=null", "logger=none", "model.callbacks={}"]
MODELS = ("text_lstm", "text_cnn", "text_transformer", "text_minilm")
EPOCHS = {"text_lstm": 10, "text_cnn": 10, "text_transformer": 15, "text_minilm": 3}


def bow_accuracy(
    train: tuple[list[str], list[str]], test: tuple[list[str], list[str]]
) -> np.ndarray:
    """Per-test-text correctness of a bag-of-words (unigram counts) logistic regression."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(token_pattern=r"[\w']+")
    model = LogisticRegression(max_iter=2000, C=1.0)
    model.fit(vectorizer.fit_transform(train[0]), train[1])
    return model.predict(vectorizer.transform(test[0])) == np.asarray(test[1])


def write(path: Path, texts: list[str], labels: list[str]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))


def run(experiment: str, train_file: Path, test_file: Path, out: Path, *extra: str) -> dict:
    from src.experiments.train import train

    overrides = [
        f"experiment={experiment}", "dataset=text_file", f"dataset.texts.path={train_file}",
        f"dataset.texts.test_path={test_file}", f"paths.log_dir={out}",
        f"trainer.max_epochs={EPOCHS[experiment]}", *QUIET, *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    metrics = train(compose_config(overrides, out / f"{experiment}_{time.time_ns()}"))
    metrics["seconds"] = time.perf_counter() - start
    return metrics


def grammar(out: Path) -> None:
    from src.experiments.predict import predict

    sentences = generate(4000, seed=0)
    order = np.random.default_rng(0).permutation(len(sentences))
    train_s = [sentences[i] for i in order[:3200]]
    test_s = [sentences[i] for i in order[3200:]]
    names = ["negative", "positive"]
    train_data = ([s.text for s in train_s], [names[s.label] for s in train_s])
    test_data = ([s.text for s in test_s], [names[s.label] for s in test_s])
    write(out / "grammar_train.csv", *train_data)
    write(out / "grammar_test.csv", *test_data)
    bow = bow_accuracy(train_data, test_data)
    m = run("text_lstm", out / "grammar_train.csv", out / "grammar_test.csv", out / "runs",
            "trainer.max_epochs=3")  # fmt: skip
    overrides = [
        "experiment=text_lstm", "dataset=text_file", "mode=predict",
        f"dataset.texts.path={out / 'grammar_train.csv'}",
        f"dataset.texts.test_path={out / 'grammar_test.csv'}",
        f"ckpt_path={m['best_checkpoint']}", f"paths.log_dir={out}", *QUIET,
    ]  # fmt: skip
    p = predict(compose_config(overrides, out / "predict"))
    with open(p["predictions"]) as f:
        rows = list(csv.DictReader(f))
    lstm = np.array([r["prediction"] == r["target"] for r in rows])
    neg = np.array([s.negation for s in test_s])
    con = np.array([s.contrast for s in test_s])
    report = {
        "part": "grammar", "test_texts": len(test_s), "negation_texts": int(neg.sum()),
        "bow": {"all": bow.mean(), "negation": bow[neg].mean(), "contrast": bow[con].mean()},
        "lstm": {"all": lstm.mean(), "negation": lstm[neg].mean(), "contrast": lstm[con].mean()},
        "lstm_seconds": m["seconds"],
    }  # fmt: skip
    print(json.dumps(report, default=float), flush=True)


def yelp(out: Path, models: list[str]) -> None:
    from sklearn.model_selection import StratifiedKFold

    lines = [line.rsplit("\t", 1) for line in YELP.read_text().splitlines() if line.strip()]
    texts, labels = [t.strip() for t, _ in lines], [y.strip() for _, y in lines]
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(texts, labels)
    scores: dict[str, list[float]] = {m: [] for m in ["bow", *models]}
    seconds: dict[str, list[float]] = {m: [] for m in models}
    for k, (tr, te) in enumerate(folds):
        train_data = ([texts[i] for i in tr], [labels[i] for i in tr])
        test_data = ([texts[i] for i in te], [labels[i] for i in te])
        scores["bow"].append(float(bow_accuracy(train_data, test_data).mean()))
        # the fold's files in yelp_labelled.txt's own layout: tab-separated, no header
        for name, (t, y) in (("train", train_data), ("test", test_data)):
            with (out / f"yelp_{k}_{name}.txt").open("w") as f:
                f.writelines(f"{a}\t{b}\n" for a, b in zip(t, y, strict=True))
        layout = ["dataset.texts.separator=tab", "dataset.texts.header=false",
                  "dataset.texts.text=0", "dataset.texts.label=1", f"seed={k}"]  # fmt: skip
        for model in models:
            m = run(model, out / f"yelp_{k}_train.txt", out / f"yelp_{k}_test.txt",
                    out / "runs", *layout)  # fmt: skip
            scores[model].append(m["test/acc"])
            seconds[model].append(m["seconds"])
            print(json.dumps({"fold": k, "model": model, "acc": m["test/acc"],
                              "seconds": m["seconds"]}), flush=True)  # fmt: skip
        print(json.dumps({"fold": k, "bow": scores["bow"][-1]}), flush=True)
    for name, accs in scores.items():
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        secs = f", {statistics.mean(seconds[name]):.0f} s per fold" if name in seconds else ""
        print(f"{name:17s} {statistics.mean(accs):.3f} +- {spread:.3f} (n={len(accs)}){secs}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["grammar", "yelp", "all"], default="all", nargs="?")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench_text_"))
    if args.part in ("grammar", "all"):
        grammar(out)
    if args.part in ("yelp", "all"):
        yelp(out, args.models.split(","))


if __name__ == "__main__":
    main()
