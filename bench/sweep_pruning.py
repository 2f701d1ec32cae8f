"""Pruning vs no pruning: the same TPE sweep, side by side, counting trial-epochs.

    OMP_NUM_THREADS=1 python bench/sweep_pruning.py --trials 30 --epochs 20 --seeds 0 1 2 3 4

Each study samples with the TPE sampler of ``conf/hparams_search/digits_cnn_optuna.yaml``
(``TPESampler(seed, n_startup_trials=8, multivariate=True)``) the same search space (optimizer,
lr, weight decay, dropout, width, batch size) for a small MLP on scikit-learn's digits, trained
in-process for up to ``--epochs`` epochs and reporting validation accuracy after each epoch
(step = epoch index, as ``PyTorchLightningPruningCallback`` does). A trial's value is its best
epoch's accuracy, as in the sweeper, whose jobs return ``val/acc`` of the best checkpoint.
Every pruner arm runs the same sampler, seeds and trial count as ``none``; the ``hyperband``
arm is the pruner shipped in that sweep config. Prints compute (trial-epochs) and best
accuracy of each.
"""

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def digits(seed: int = 0) -> Data:
    x, y = load_digits(return_X_y=True)
    xtr, xva, ytr, yva = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    f = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return f(xtr), torch.tensor(ytr), f(xva), torch.tensor(yva)


@dataclass
class Run:
    epochs: int = 0  # trial-epochs trained in the whole study
    seconds: float = 0.0


def objective(data: Data, max_epochs: int, run: Run) -> Callable[[optuna.Trial], float]:
    xtr, ytr, xva, yva = data

    def train(trial: optuna.Trial) -> float:
        name = trial.suggest_categorical("optimizer", ["adamw", "sgd", "rmsprop"])
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        wd = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        hidden = trial.suggest_categorical("hidden", [32, 64, 128, 256])
        batch = trial.suggest_categorical("batch_size", [32, 64, 128])
        torch.manual_seed(trial.number)
        net = nn.Sequential(
            nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10)
        )
        opt = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}[
            name
        ](net.parameters(), lr=lr, weight_decay=wd)
        best = 0.0
        for epoch in range(max_epochs):
            net.train()
            for idx in torch.randperm(len(xtr)).split(batch):
                opt.zero_grad()
                nn.functional.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
                opt.step()
            run.epochs += 1
            net.eval()
            with torch.no_grad():
                acc = (net(xva).argmax(1) == yva).float().mean().item()
            best = max(best, acc)
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return best

    return train


PRUNERS: dict[str, Callable[[int], optuna.pruners.BasePruner]] = {
    "none": lambda e: optuna.pruners.NopPruner(),
    # as shipped in conf/hparams_search/digits_cnn_optuna.yaml: two brackets for 20 epochs;
    # 3 in 4 trials are cut after 2 epochs (step 1) and 7 (step 6), 1 in 4 first after 7; each
    # cut keeps the top sixth of its bracket, and the first trial at a cut only sets the bar
    "hyperband": lambda e: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=e, reduction_factor=6, bootstrap_count=1
    ),
    # Optuna's defaults: three brackets, cuts at steps 1, 3, 9 (bracket 0), 3, 9 and 9
    "hyperband3": lambda e: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=e, reduction_factor=3
    ),
    "median": lambda e: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
    # one bracket of Hyperband: at epochs 1, 3, 9 only the top third goes on
    "sha": lambda e: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    # same, keeping the top quarter at epochs 1, 4 and 16
    "sha4": lambda e: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=4),
    # keep only trials in the top quarter of earlier trials at the same epoch
    "top25": lambda e: optuna.pruners.PercentilePruner(75.0, n_startup_trials=5, n_warmup_steps=1),
}


def study(pruner: str, seed: int, trials: int, epochs: int, data: Data) -> tuple[Run, float]:
    run = Run()
    # a fixed name: HyperbandPruner assigns brackets by hashing study name + trial number
    s = optuna.create_study(
        direction="maximize",
        pruner=PRUNERS[pruner](epochs),
        study_name=f"bench-{pruner}-{seed}",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True),
    )
    start = time.perf_counter()
    s.optimize(objective(data, epochs, run), n_trials=trials)
    run.seconds = time.perf_counter() - start
    return run, s.best_value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--pruners", nargs="+", default=list(PRUNERS), choices=list(PRUNERS))
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # multivariate TPE is marked experimental
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    torch.set_num_threads(1)
    data = digits()
    print(f"{args.trials} trials x up to {args.epochs} epochs, TPE seeds {args.seeds}")
    print(
        f"{'pruner':<10} {'seed':>4} {'trial-epochs':>12} {'% of none':>9} {'best val acc':>12} "
        f"{'vs none':>8} {'seconds':>8}"
    )
    base: dict[int, tuple[Run, float]] = {}
    for seed in args.seeds:
        for pruner in args.pruners:
            run, best = study(pruner, seed, args.trials, args.epochs, data)
            if pruner == "none":
                base[seed] = (run, best)
            ref_run, ref_best = base.get(seed, (run, best))
            share = 100 * run.epochs / ref_run.epochs
            print(
                f"{pruner:<10} {seed:>4} {run.epochs:>12} {share:>8.1f}% "
                f"{100 * best:>11.2f}% {100 * (best - ref_best):>+7.2f} {run.seconds:>8.1f}"
            )


if __name__ == "__main__":
    main()
