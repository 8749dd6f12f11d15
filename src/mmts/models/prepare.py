"""The data a trainer reads: an experiment's labelled decisions, split walk-forward with a purge gap."""

from __future__ import annotations

from dataclasses import dataclass

from mmts.core.stores import MarketData
from mmts.core.time import iso
from mmts.features.history import InputHistory
from mmts.models.dataset import Decisions, DecisionSet, decision_span, label_decisions
from mmts.models.experiment import Experiment
from mmts.models.splits import Segments, Split, walk_forward


@dataclass
class Prepared:
    """Everything a trainer needs: decisions, the split, the history and the datasets."""

    decisions: Decisions
    split: Split
    history: InputHistory
    train: DecisionSet
    val: DecisionSet
    test: DecisionSet

    def ranges(self) -> dict[str, list[str]]:
        """Return the first and last decision time of each segment (ISO)."""
        t = self.decisions.times
        return {
            name: [iso(t[idx[0]]), iso(t[idx[-1]])] if idx.shape[0] else []
            for name, idx in (
                ("train", self.split.train),
                ("val", self.split.val),
                ("test", self.split.test),
            )
        }


def prepare(store: MarketData, exp: Experiment, model_slots: tuple[str, ...] = (),
            segments: Segments | None = None) -> Prepared:  # fmt: skip
    """Label the experiment's decisions, split them walk-forward and wrap them as datasets.

    ``segments``: one study fold's spans (``mmts study``) instead of the experiment's
    ``[data]`` split; the decisions then run from its first training time to its test end.
    """
    if segments is not None:
        start, end = iso(segments.start), iso(segments.end)
    elif exp.data.start is None or exp.data.end is None:  # the store's own first or last bar
        lo, hi = decision_span(store, exp, exp.data.start, exp.data.end)
        start, end = iso(lo), iso(hi)
    else:
        start, end = exp.data.start, exp.data.end
    decisions = label_decisions(store, exp, start, end)
    if decisions.times.shape[0] < 20:
        raise ValueError(
            f"only {decisions.times.shape[0]} decisions between {start} and "
            f"{end}: the store lacks {exp.data.decision_timeframe} bars of "
            f"{exp.features.primary_symbol} there"
        )
    if segments is not None:
        split = segments.split(decisions.times)
    else:
        split = walk_forward(
            decisions.times, exp.horizon_ns, n_folds=exp.data.n_folds,
            val_fraction=exp.data.val_fraction, test_fraction=exp.data.test_fraction,
        )[exp.data.fold]  # fmt: skip
    history = InputHistory(store, int(decisions.times[0]), int(decisions.times[-1]), exp.features,
                           model_slots)  # fmt: skip
    train_idx = split.train
    cap = exp.train.max_train_samples
    if cap is not None and train_idx.shape[0] > cap:
        train_idx = train_idx[-cap:]  # the most recent ones
    return Prepared(
        decisions, split, history, DecisionSet(history, decisions, train_idx),
        DecisionSet(history, decisions, split.val), DecisionSet(history, decisions, split.test),
    )  # fmt: skip
