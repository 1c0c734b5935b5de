"""Built-in sample data: a synthetic multi-scenario shop whose right answers are known.

``generate(config)`` writes the raw logs a user would bring: events as *text* columns exactly as
a CSV would hold them (with malformed rows, exact duplicates, a few ISO-8601 timestamps and bot
users, so that the cleaner has real work) and an item catalog whose text carries real signal.

How the data is made (all of it vectorised numpy, deterministic for a seed; one module each:
``vocabulary`` the words, ``catalogue`` the items, ``behaviour`` the users and their events,
``noise`` the mess, ``generator`` puts them together):

* **Topics.** Up to 24 hand-written topics (hiking, baking, coffee, ...), each with 14 descriptive
  words, 6 product nouns and 4 brands. An item belongs to one topic; its title is
  ``brand + two topic words + noun`` and its description reuses topic words, so items of one
  topic share words and a language model can tell topics apart. A few house brands, colour
  suffixes and stock phrases are shared by every topic (text noise).
* **Scenarios.** Each item is sold in a random subset of the scenarios; popularity inside a
  scenario is Zipf-like over a per-scenario ranking that is correlated, not equal, across
  scenarios.
* **Users.** A user has a Dirichlet mixture over a few topics that drifts linearly towards a
  new topic over the time span (``drift``), an activity level (log-normal), an active window
  (some join late, some leave early) and a set of scenarios (some users use one scenario,
  most use several). The *same* mixture drives every scenario, so behaviour in one scenario
  predicts behaviour in another: the signal cross-scenario models exploit.
* **Events.** Each intent picks a scenario, a time (with a day/night cycle), a topic from the
  mixture at that time (or a random topic with probability ``noise``) and an item of that topic
  in that scenario by popularity, then walks the scenario's funnel
  (app: view > click > cart > purchase; web: view > click > purchase; search: search > click).
  The chance to go one step deeper grows with the user's interest in the topic. A ``search``
  event carries a query built from the words of the item the user then clicks (and that item's
  id). ``value`` is the dwell time in seconds of views and clicks.
* **Newcomers** (``newcomer_fraction``; 0 by default, 0.1 on the sample platform of
  ``scenerec demo`` and ``examples/sample_platform.yaml``): a share of the users who do not
  use every scenario end their log with a first visit to a new one (the funnel's first step,
  an item of their current interests). Left-out last events make them users cold in that
  scenario, known only from the others through the topics their item text shares.
* **Bots** fire hundreds of views and clicks on random items seconds apart.

The ground truth (mixtures, bots, malformed rows, ...) is returned in ``SyntheticData.truth``.
"""

from __future__ import annotations

from scenerec.data.synthetic.config import SyntheticConfig, SyntheticData, tiny
from scenerec.data.synthetic.generator import generate
from scenerec.data.synthetic.noise import MALFORMED_KINDS
from scenerec.data.synthetic.vocabulary import TOPIC_NAMES

__all__ = ["MALFORMED_KINDS", "TOPIC_NAMES", "SyntheticConfig", "SyntheticData", "generate", "tiny"]
