"""Train / validation / test splits for honest evaluation.

Every function takes a typed, cleaned events table (``scenerec.schema.EVENT_SCHEMA``; extra
columns are kept) and returns a ``Split`` whose parts have the input's columns and keep the
input's row order. Splits are deterministic: the random ones take a seed.

* ``leave_last_out``: per user, the last event in a target scenario is the test event; the
  user's training events are strictly earlier, in every scenario.
* ``temporal_cutoff``: one global time cut (a "deploy date").
* ``ratio_split``: per-user ratio split with RecBole's counting rule (comparable with its
  published tables).
* ``cold_in_scenario``: users held out of one scenario entirely, known from the others.
* ``predefined``: train / test frames shipped by a data release.

``SplitSpec`` names one of them with its arguments (the ``split:`` block of an experiment
config, and the options of ``scenerec data split``); ``make_split`` / ``SplitSpec.apply``
make it.

Each split records in ``info`` how many test events share their ``(user, item, scenario,
timestamp)`` with a training event (``test_keys_in_train``); a non-zero count is leakage and
raises a ``DataWarning``. It is zero by construction for every split here except
``ratio_split`` on data with simultaneous events and ``predefined``.
"""

from __future__ import annotations

from scenerec.data.split.cold import cold_in_scenario
from scenerec.data.split.core import Split
from scenerec.data.split.ratio import ratio_counts, ratio_split
from scenerec.data.split.shipped import predefined
from scenerec.data.split.spec import SplitMethod, SplitSpec, make_split
from scenerec.data.split.temporal import leave_last_out, temporal_cutoff

__all__ = [
    "Split",
    "SplitMethod",
    "SplitSpec",
    "cold_in_scenario",
    "leave_last_out",
    "make_split",
    "predefined",
    "ratio_counts",
    "ratio_split",
    "temporal_cutoff",
]
