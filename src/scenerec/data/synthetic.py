"""Built-in sample data: a synthetic multi-scenario shop whose right answers are known.

``generate(config)`` writes the raw logs a user would bring: events as *text* columns exactly as
a CSV would hold them (with malformed rows, exact duplicates, a few ISO-8601 timestamps and bot
users, so that the cleaner has real work) and an item catalog whose text carries real signal.

How the data is made (all of it vectorised numpy, deterministic for a seed):

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
* **Bots** fire hundreds of views and clicks on random items seconds apart.

The ground truth (mixtures, bots, malformed rows, ...) is returned in ``SyntheticData.truth``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field, model_validator

from scenerec.config import FrozenConfig
from scenerec.data.io import write_table
from scenerec.schema import EVENT_COLUMNS, C

logger = logging.getLogger(__name__)

__all__ = ["MALFORMED_KINDS", "TOPIC_NAMES", "SyntheticConfig", "SyntheticData", "generate", "tiny"]


class _Topic(NamedTuple):
    name: str
    parent: str
    words: tuple[str, ...]  # 14 descriptive words (lower case)
    nouns: tuple[str, ...]  # 6 product nouns (lower case)
    brands: tuple[str, ...]  # 4 brands


_N_WORDS: Final = 14
_N_NOUNS: Final = 6
_N_BRANDS: Final = 4

# Hand-written so that the text means something; a few words are shared on purpose ("bass" is a
# fish and a guitar, "organic" is tea and gardening) because real catalogues are ambiguous.
# fmt: off
_TOPICS: Final[tuple[_Topic, ...]] = (
    _Topic(
        "hiking", "Outdoors",
        ("trail", "waterproof", "alpine", "summit", "rugged", "breathable", "lightweight",
         "ridge", "backcountry", "insulated", "trekking", "canyon", "ultralight", "ripstop"),
        ("boots", "tent", "backpack", "trekking poles", "headlamp", "sleeping bag"),
        ("Ridgeline", "Summit Peak", "Trailcraft", "Alpenwood"),
    ),
    _Topic(
        "baking", "Kitchen",
        ("flour", "sourdough", "oven", "yeast", "whisk", "dough", "pastry", "rye", "proofing",
         "crust", "knead", "butter", "batter", "artisan"),
        ("loaf pan", "stand mixer", "baking sheet", "proofing basket", "rolling pin",
         "dough scraper"),
        ("Hearth & Crumb", "Ovenly", "Millstone", "Crumbworks"),
    ),
    _Topic(
        "coffee", "Kitchen",
        ("espresso", "arabica", "roast", "burr", "pour-over", "crema", "single-origin", "barista",
         "brew", "decaf", "ethiopian", "dark", "aromatic", "cold-brew"),
        ("coffee beans", "espresso machine", "burr grinder", "french press", "milk frother",
         "gooseneck kettle"),
        ("Crema Co", "Roastery Nine", "Bean & Barrel", "Brewhaus"),
    ),
    _Topic(
        "gaming", "Electronics",
        ("rgb", "mechanical", "wireless", "fps", "console", "esports", "low-latency", "144hz",
         "streaming", "joystick", "pro", "haptic", "tactile", "multiplayer"),
        ("gaming mouse", "keyboard", "headset", "controller", "gaming chair", "monitor"),
        ("Pixelforge", "Respawn Gear", "Hyperlag", "Nexus Play"),
    ),
    _Topic(
        "photography", "Electronics",
        ("aperture", "mirrorless", "zoom", "prime", "shutter", "sensor", "bokeh", "wide-angle",
         "telephoto", "stabilized", "full-frame", "portrait", "macro", "optical"),
        ("camera", "lens", "tripod", "camera bag", "memory card", "flash"),
        ("Lumina", "Aperture Labs", "Focal Point", "Silverhalide"),
    ),
    _Topic(
        "running", "Sports",
        ("marathon", "cushioned", "stride", "tempo", "reflective", "pace", "carbon-plated",
         "racing", "heel", "distance", "recovery", "sprint", "moisture-wicking", "trail"),
        ("running shoes", "running shorts", "gps watch", "hydration vest", "compression socks",
         "armband"),
        ("Stridewell", "Pacer", "Tempo Athletics", "Kinetic"),
    ),
    _Topic(
        "yoga", "Sports",
        ("stretch", "meditation", "balance", "flexibility", "non-slip", "cork", "mindful", "pose",
         "breath", "studio", "restorative", "eco", "zen", "vinyasa"),
        ("yoga mat", "yoga block", "yoga strap", "bolster", "meditation cushion", "leggings"),
        ("Lotus Flow", "Namaste Co", "Zenform", "Breathwork"),
    ),
    _Topic(
        "gardening", "Home & Garden",
        ("soil", "compost", "seed", "organic", "pruning", "perennial", "raised", "heirloom",
         "watering", "mulch", "bloom", "herb", "greenhouse", "succulent"),
        ("garden hose", "pruning shears", "planter", "seed kit", "watering can", "garden gloves"),
        ("Greenthumb", "Rootwise", "Bloomfield", "Terra Verde"),
    ),
    _Topic(
        "skincare", "Beauty",
        ("hydrating", "retinol", "spf", "moisturizing", "vitamin", "hyaluronic", "gentle",
         "fragrance-free", "exfoliating", "niacinamide", "dewy", "sensitive", "glow",
         "brightening"),
        ("face serum", "moisturizer", "sunscreen", "cleanser", "face mask", "eye cream"),
        ("Dewdrop", "Lumiskin", "Pure Botanica", "Veloure"),
    ),
    _Topic(
        "baby", "Baby",
        ("newborn", "cotton", "soft", "toddler", "swaddle", "teething", "nursery", "gentle",
         "bpa-free", "washable", "bedtime", "sleepy", "cuddly", "hypoallergenic"),
        ("baby bottle", "swaddle blanket", "teether", "baby monitor", "diaper bag", "crib sheet"),
        ("Little Sprout", "Cuddlebug", "Tiny Steps", "Nestling"),
    ),
    _Topic(
        "pets", "Pets",
        ("dog", "cat", "puppy", "kitten", "chew", "grain-free", "catnip", "fetch", "kibble",
         "grooming", "scratching", "treat", "paw", "furry"),
        ("dog bed", "cat tree", "chew toy", "pet food", "dog leash", "litter box"),
        ("Pawsome", "Whiskerly", "Barkley & Co", "Furbright"),
    ),
    _Topic(
        "fantasy books", "Books",
        ("fantasy", "dragon", "epic", "mythic", "hardcover", "saga", "wizard", "kingdom", "quest",
         "magic", "trilogy", "bestselling", "sword", "legend"),
        ("novel", "box set", "paperback", "audiobook", "illustrated edition", "map poster"),
        ("Ember Press", "Quill House", "Moonlit Books", "Arcana"),
    ),
    _Topic(
        "guitar", "Music",
        ("acoustic", "chord", "fret", "resonant", "steel", "tuner", "pedal", "studio", "bass",
         "melody", "tone", "maple", "rosewood", "electric"),
        ("acoustic guitar", "guitar strings", "amplifier", "effects pedal", "capo", "ukulele"),
        ("Harmonia", "Fretline", "Soundhole", "Tonewood"),
    ),
    _Topic(
        "fishing", "Outdoors",
        ("lure", "bait", "reel", "trout", "bass", "fly", "tackle", "spinning", "braided",
         "casting", "angler", "lake", "hook", "saltwater"),
        ("fishing rod", "spinning reel", "tackle box", "fishing line", "lure set", "waders"),
        ("Riverbend", "Tightline", "Angler's Choice", "Driftwood"),
    ),
    _Topic(
        "tea", "Grocery",
        ("matcha", "oolong", "loose-leaf", "green", "herbal", "chamomile", "jasmine", "earl grey",
         "steep", "ceremonial", "sencha", "chai", "organic", "darjeeling"),
        ("tea tin", "teapot", "tea infuser", "matcha whisk", "tea sampler", "tea mug"),
        ("Leaf & Kettle", "Jade Garden", "Steepwell", "Camellia"),
    ),
    _Topic(
        "home office", "Office",
        ("ergonomic", "standing", "adjustable", "lumbar", "cable", "desk", "productivity",
         "wireless", "noise-cancelling", "laptop", "usb-c", "dual", "compact", "posture"),
        ("office chair", "standing desk", "monitor arm", "laptop stand", "docking station",
         "desk lamp"),
        ("Workwell", "Deskcraft", "Ergonomix", "Officio"),
    ),
    _Topic(
        "strength training", "Sports",
        ("dumbbell", "conditioning", "resistance", "protein", "strength", "barbell", "squat",
         "grip", "adjustable", "workout", "hiit", "muscle", "weight", "olympic"),
        ("dumbbells", "kettlebell", "resistance bands", "weight bench", "protein powder",
         "pull-up bar"),
        ("IronCore", "Forge Fitness", "Repmax", "Titanlift"),
    ),
    _Topic(
        "grilling", "Outdoors",
        ("bbq", "charcoal", "smoker", "brisket", "grill", "marinade", "rub", "cast-iron",
         "skewer", "smoky", "propane", "tongs", "sear", "hickory"),
        ("charcoal grill", "pellet smoker", "meat thermometer", "grill brush", "bbq sauce",
         "cast iron skillet"),
        ("Emberline", "Smokehouse", "Flame & Iron", "Pitmaster"),
    ),
    _Topic(
        "travel", "Travel",
        ("carry-on", "luggage", "passport", "packing", "spinner", "hardshell", "neck", "adapter",
         "tsa", "compact", "weekender", "jetlag", "roller", "organizer"),
        ("suitcase", "packing cubes", "travel pillow", "travel adapter", "duffel bag",
         "toiletry kit"),
        ("Wanderly", "Jetset", "Globetrot", "Nomad & Co"),
    ),
    _Topic(
        "knitting", "Crafts",
        ("yarn", "wool", "merino", "stitch", "knit", "crochet", "skein", "chunky", "pattern",
         "cozy", "alpaca", "cable", "purl", "handmade"),
        ("yarn bundle", "knitting needles", "crochet hook set", "pattern book", "stitch markers",
         "project bag"),
        ("Woolly Mill", "Purlwise", "Skein & Co", "Loopcraft"),
    ),
    _Topic(
        "smart home", "Electronics",
        ("smart", "wifi", "voice", "automation", "sensor", "dimmable", "programmable", "hub",
         "zigbee", "motion", "energy", "remote", "schedule", "app-controlled"),
        ("smart plug", "smart bulb", "thermostat", "video doorbell", "motion sensor",
         "smart speaker"),
        ("Homelink", "Brightnode", "Circuitry", "Nestwise"),
    ),
    _Topic(
        "wine", "Grocery",
        ("cabernet", "merlot", "vintage", "sommelier", "oak", "tannin", "bordeaux", "riesling",
         "sparkling", "aerating", "cellar", "pinot", "chardonnay", "rosé"),
        ("wine glasses", "decanter", "corkscrew", "wine rack", "aerator", "wine fridge"),
        ("Vinoteca", "Cellar Door", "Oak & Vine", "Sommelia"),
    ),
    _Topic(
        "painting", "Crafts",
        ("acrylic", "watercolor", "canvas", "brush", "pigment", "vibrant", "fine-art", "oil",
         "sketch", "gouache", "artist", "landscape", "blending", "impasto"),
        ("paint set", "canvas panels", "brush set", "easel", "sketchbook", "palette"),
        ("Artisto", "Brushwork", "Canvas & Co", "Pigmenta"),
    ),
    _Topic(
        "cycling", "Sports",
        ("carbon", "road", "gravel", "aero", "clipless", "tubeless", "mountain", "commuter",
         "disc", "cadence", "peloton", "climbing", "hi-vis", "downhill"),
        ("bike", "bike helmet", "saddle", "cycling jersey", "bike light", "bike pump"),
        ("Velocita", "Spokewise", "Crankset Co", "Pelotonic"),
    ),
)
# fmt: on

TOPIC_NAMES: Final[tuple[str, ...]] = tuple(t.name for t in _TOPICS)
"""Names of the built-in topics, in order; ``SyntheticConfig.n_topics`` takes the first ones."""

# Text shared by every topic: it carries no signal, as in a real catalogue.
_HOUSE_BRANDS: Final = ("Everyday", "Northwind", "Basics Plus", "Mercato")
_SUFFIXES: Final = ("- Black", "- Blue", "- Large", "- Small", "2 Pack", "(New Edition)")
_PHRASES: Final = (
    "Great value.",
    "Ships in two days.",
    "A customer favourite.",
    "Limited edition.",
    "Backed by a one-year warranty.",
    "Gift ready.",
    "Made to last.",
    "Rated highly by our shoppers.",
)

# Funnels: (behaviour, probability of reaching this step from the previous one, mean seconds
# after the previous step). Scenario names not listed use the "web" funnel.
_FUNNELS: Final[dict[str, tuple[tuple[str, float, float], ...]]] = {
    "app": (
        ("view", 1.0, 0.0),
        ("click", 0.45, 20.0),
        ("cart", 0.30, 90.0),
        ("purchase", 0.55, 600.0),
    ),
    "web": (("view", 1.0, 0.0), ("click", 0.40, 25.0), ("purchase", 0.12, 900.0)),
    "search": (("search", 1.0, 0.0), ("click", 0.65, 8.0)),
}
_DEFAULT_FUNNEL: Final = "web"
_DWELL_BEHAVIORS: Final = ("view", "click")

# Relative activity by hour of day (UTC): quiet nights, a lunch bump and an evening peak.
_HOURLY: Final = np.array(
    [2, 1, 1, 1, 1, 1, 2, 4, 5, 5, 5, 6, 7, 6, 5, 5, 5, 6, 7, 9, 10, 9, 6, 4], dtype=np.float64
)

_BAD_TIMESTAMPS: Final = ("yesterday", "n/a", "2024-13-45T25:61:00", "17:03", "1.7e9x", "-")
_BAD_VALUES: Final = ("five", "12abc", "??", "1,5,0", "NaNx")
MALFORMED_KINDS: Final = ("missing_user", "missing_item", "bad_timestamp", "bad_value")

_DAY: Final = 86_400


class SyntheticConfig(FrozenConfig):
    """How big and how messy the synthetic shop is.

    Attributes:
        seed: everything is a deterministic function of the config, the seed included.
        n_users: users, bots included.
        n_items: catalogue size (some tail items get no events: text-only items).
        n_events: target number of event rows (bots and duplicates included); the result is
            within a few rows of it.
        scenarios: scenario names; ``app``, ``web`` and ``search`` have their own funnels,
            other names use the web funnel.
        scenario_weights: relative popularity of the scenarios (default: each 0.6 times the
            one before, about 51/31/18% for three).
        n_topics: how many of the built-in topics to use (at most ``len(TOPIC_NAMES)``).
        topics_per_user: the mean number of topics in a user's mixture (at least 1).
        dirichlet_alpha: concentration of a user's mixture over its topics; small means one
            dominant topic.
        noise: share of intents whose topic is random (popularity-weighted), not the user's.
        drift: how far a mixture moves towards a new topic by the end of the time span (0: not
            at all, 1: completely); varies +-50% per user.
        single_scenario_fraction: share of users active in exactly one scenario.
        scenario_item_fraction: the chance that an item is sold in a given scenario.
        popularity_correlation: correlation of item popularity between scenarios.
        zipf_exponent: popularity of the item at rank r in a scenario is ``r ** -exponent``.
        days: the time span.
        start: UTC epoch seconds of the first day (default 2024-01-01).
        bot_fraction: share of users that are bots (at least one bot when positive).
        bot_event_share: share of the event rows made by bots.
        bot_gap_seconds: mean seconds between two events of a bot.
        malformed_fraction: share of rows with one corrupted field (see ``MALFORMED_KINDS``).
        duplicate_fraction: share of rows followed by an exact copy (a logging retry).
        iso_timestamp_fraction: share of rows whose timestamp is ISO-8601 text, not seconds.
        late_fraction: share of rows logged late (out of time order in the file).
        missing_text_fraction: share of items with no text at all (only an id).
        missing_description_fraction: share of items without a description.
    """

    seed: int = 0
    n_users: int = Field(5_000, ge=2)
    n_items: int = Field(3_000, ge=1)
    n_events: int = Field(200_000, ge=1)
    scenarios: tuple[str, ...] = ("app", "web", "search")
    scenario_weights: tuple[float, ...] | None = None
    n_topics: int = Field(20, ge=1, le=len(_TOPICS))
    topics_per_user: float = Field(2.2, ge=1.0)
    dirichlet_alpha: float = Field(0.8, gt=0.0)
    noise: float = Field(0.08, ge=0.0, le=1.0)
    drift: float = Field(0.3, ge=0.0, le=1.0)
    single_scenario_fraction: float = Field(0.35, ge=0.0, le=1.0)
    scenario_item_fraction: float = Field(0.7, gt=0.0, le=1.0)
    popularity_correlation: float = Field(0.6, ge=0.0, le=1.0)
    zipf_exponent: float = Field(0.9, ge=0.0)
    days: int = Field(90, ge=1)
    start: int = 1_704_067_200
    bot_fraction: float = Field(0.004, ge=0.0, lt=1.0)
    bot_event_share: float = Field(0.03, ge=0.0, lt=0.5)
    bot_gap_seconds: float = Field(3.0, gt=0.0)
    malformed_fraction: float = Field(0.01, ge=0.0, lt=0.5)
    duplicate_fraction: float = Field(0.003, ge=0.0, lt=0.5)
    iso_timestamp_fraction: float = Field(0.02, ge=0.0, lt=0.5)
    late_fraction: float = Field(0.02, ge=0.0, le=1.0)
    missing_text_fraction: float = Field(0.01, ge=0.0, le=1.0)
    missing_description_fraction: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        if not self.scenarios:
            raise ValueError("scenarios must name at least one scenario")
        if len(set(self.scenarios)) != len(self.scenarios) or any(
            not s.strip() for s in self.scenarios
        ):
            raise ValueError(f"scenarios must be distinct non-empty names, got {self.scenarios}")
        if self.scenario_weights is not None and (
            len(self.scenario_weights) != len(self.scenarios)
            or any(w <= 0 for w in self.scenario_weights)
        ):
            raise ValueError(
                "scenario_weights needs one positive weight per scenario "
                f"({len(self.scenarios)}), got {self.scenario_weights}"
            )
        if self.n_items < self.n_topics:
            raise ValueError(
                f"n_items ({self.n_items}) must be at least n_topics ({self.n_topics})"
            )
        total_bad = self.malformed_fraction + self.duplicate_fraction + self.iso_timestamp_fraction
        if total_bad >= 0.9:
            raise ValueError("malformed + duplicate + iso fractions must leave clean rows")
        return self


def tiny(seed: int = 0) -> SyntheticConfig:
    """A small config for tests: 300 users, 200 items, about 8,000 events, 12 topics."""
    return SyntheticConfig(
        seed=seed,
        n_users=300,
        n_items=200,
        n_events=8_000,
        n_topics=12,
        bot_fraction=0.01,
        malformed_fraction=0.01,
        duplicate_fraction=0.005,
    )


@dataclass(frozen=True)
class SyntheticData:
    """What ``generate`` returns.

    Attributes:
        events: raw events, every column ``String`` as read from a CSV (``user_id``,
            ``item_id``, ``scenario``, ``behavior``, ``timestamp``, ``value``, ``query``); nulls
            are empty fields. Row ``r`` (0-based) is source row ``r + 1``.
        catalog: ``item_id``, ``title``, ``category`` (``"Parent > topic"``), ``brand``,
            ``description``, ``scenario`` (the one scenario that sells the item, null when
            several do); all ``String``.
        truth: the generator's ground truth:

            * ``topics`` (list[str]): topic names, the column order of the mixtures.
            * ``user_ids`` (list[str]): every user, the row order of the mixtures.
            * ``mixture_start`` / ``mixture_end`` (float64 ``(n_users, n_topics)``): each
              user's topic mixture on the first and the last day (linear in between); zero
              rows for bots.
            * ``user_scenarios`` (dict[str, list[str]]): the scenarios each non-bot user uses
              (a light user may, by chance, have no event in one of them).
            * ``item_topic`` (dict[str, str]): each item's topic.
            * ``scenario_items`` (dict[str, list[str]]): items sold in each scenario.
            * ``bots`` (list[str]): bot user ids.
            * ``malformed_rows`` (dict[int, str]): 1-based source row -> kind (one of
              ``MALFORMED_KINDS``).
            * ``duplicate_rows`` (list[int]): 1-based source rows equal to an earlier row.
            * ``iso_rows`` (list[int]): 1-based source rows with ISO-8601 timestamps.
            * ``items_without_text`` (list[str]).
            * ``time_span`` (tuple[int, int]): first and last second of the span.
        config: the config that made it.
    """

    events: pl.DataFrame
    catalog: pl.DataFrame
    truth: dict[str, Any] = field(repr=False)
    config: SyntheticConfig

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``events.csv`` and ``catalog.csv`` into ``directory`` (created if needed).

        Returns:
            ``{"events": path, "catalog": path}``.
        """
        d = Path(directory)
        return {
            "events": write_table(self.events, d / "events.csv"),
            "catalog": write_table(self.catalog, d / "catalog.csv"),
        }


# ---------------------------------------------------------------------------------- helpers
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _ids(prefix: str, n: int) -> pl.Series:
    """``prefix`` + zero-padded 1-based numbers, e.g. ``u0001``."""
    width = max(4, len(str(n)))
    digits = pl.Series(np.arange(1, n + 1, dtype=np.int64)).cast(pl.String).str.zfill(width)
    return pl.select(pl.lit(prefix) + digits).to_series()


def _pick_k(rng: np.random.Generator, weights: FloatArray, k: IntArray) -> BoolArray:
    """Per row, a mask of ``k[row]`` distinct columns drawn without replacement by weight.

    Uses the Gumbel-top-k trick so that it is one vectorised draw for all rows.
    """
    n_rows, n_cols = len(k), len(weights)
    keys = np.log(weights)[None, :] + rng.gumbel(size=(n_rows, n_cols))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    mask: BoolArray = rank < k[:, None]
    return mask


def _sample_rows(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One column index per row of a row-stochastic matrix (inverse CDF, vectorised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    out: IntArray = np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)
    return out.astype(np.int64)


def _mixtures(
    rng: np.random.Generator, cfg: SyntheticConfig, n: int, topic_pop: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Start and end topic mixtures ``(n, n_topics)`` for ``n`` users."""
    t = cfg.n_topics
    k = np.minimum(1 + rng.poisson(cfg.topics_per_user - 1.0, size=n), t).astype(np.int64)
    chosen = _pick_k(rng, topic_pop, k)
    g = rng.gamma(cfg.dirichlet_alpha, size=(n, t)) * chosen
    # A gamma draw can underflow to 0 for small alpha; keep every chosen topic alive.
    g = np.where(chosen, np.maximum(g, 1e-3), 0.0)
    start = g / g.sum(axis=1, keepdims=True)
    # Drift towards one topic the user did not have (or re-weights when all are taken).
    new_topic_w = np.where(chosen, 1e-12, 1.0) * topic_pop[None, :]
    new_topic = _sample_rows(rng, new_topic_w)
    strength = np.clip(cfg.drift * rng.uniform(0.5, 1.5, size=n), 0.0, 1.0)
    target = np.zeros((n, t))
    target[np.arange(n), new_topic] = 1.0
    end = (1.0 - strength)[:, None] * start + strength[:, None] * target
    return start, end


def _catalog(
    rng: np.random.Generator, cfg: SyntheticConfig, item_topic: IntArray, item_ids: pl.Series
) -> tuple[pl.DataFrame, dict[str, IntArray]]:
    """Item text; returns the catalog (without ``scenario``) and the word indices per item."""
    n = len(item_topic)
    topics = _TOPICS[: cfg.n_topics]
    words = np.array([tp.words for tp in topics])
    nouns = np.array([tp.nouns for tp in topics])
    brands = np.array([tp.brands for tp in topics])
    w1 = rng.integers(0, _N_WORDS, n)
    w2 = (w1 + rng.integers(1, _N_WORDS, n)) % _N_WORDS  # distinct from w1
    w3 = rng.integers(0, _N_WORDS, n)
    w4 = rng.integers(0, _N_WORDS, n)
    noun = rng.integers(0, _N_NOUNS, n)
    brand_i = rng.integers(0, _N_BRANDS, n)
    house = rng.random(n) < 0.15
    brand = np.where(
        house,
        np.array(_HOUSE_BRANDS)[rng.integers(0, len(_HOUSE_BRANDS), n)],
        brands[item_topic, brand_i],
    )
    suffix = np.where(
        rng.random(n) < 0.3, np.array(_SUFFIXES)[rng.integers(0, len(_SUFFIXES), n)], ""
    )
    phrase = np.array(_PHRASES)[rng.integers(0, len(_PHRASES), n)]
    no_text = rng.random(n) < cfg.missing_text_fraction
    no_desc = no_text | (rng.random(n) < cfg.missing_description_fraction)

    df = pl.DataFrame(
        {
            "brand": brand,
            "w1": words[item_topic, w1],
            "w2": words[item_topic, w2],
            "w3": words[item_topic, w3],
            "w4": words[item_topic, w4],
            "noun": nouns[item_topic, noun],
            "suffix": suffix,
            "phrase": phrase,
            "topic": np.array([tp.name for tp in topics])[item_topic],
            "parent": np.array([tp.parent for tp in topics])[item_topic],
            "no_text": no_text,
            "no_desc": no_desc,
        }
    )
    title = pl.concat_str(
        [
            pl.col("brand"),
            # A word already in the noun ("Smart Smart Plug") is dropped from the title.
            pl.when(~pl.col("noun").str.contains(pl.col("w1"), literal=True)).then(
                pl.col("w1").str.to_titlecase()
            ),
            pl.when(~pl.col("noun").str.contains(pl.col("w2"), literal=True)).then(
                pl.col("w2").str.to_titlecase()
            ),
            pl.col("noun").str.to_titlecase(),
            pl.when(pl.col("suffix") != "").then(pl.col("suffix")),
        ],
        separator=" ",
        ignore_nulls=True,
    )
    desc = pl.format(
        "{} {} for {} and {} lovers. {}",
        pl.col("w3").str.to_titlecase(),
        pl.col("noun"),
        pl.col("w4"),
        pl.col("topic"),
        pl.col("phrase"),
    )
    catalog = df.select(
        item_ids.alias(C.ITEM_ID),
        pl.when(~pl.col("no_text")).then(title).alias(C.TITLE),
        pl.when(~pl.col("no_text"))
        .then(pl.format("{} > {}", pl.col("parent"), pl.col("topic")))
        .alias(C.CATEGORY),
        pl.when(~pl.col("no_text")).then(pl.col("brand")).alias(C.BRAND),
        pl.when(~pl.col("no_desc")).then(desc).alias(C.DESCRIPTION),
    )
    parts = {"w1": w1, "w2": w2, "noun": noun}
    return catalog, {k: v.astype(np.int64) for k, v in parts.items()}


def _funnel_tables(
    scenarios: tuple[str, ...],
) -> tuple[list[str], IntArray, FloatArray, FloatArray]:
    """Behaviour codes, step probabilities and mean gaps, each ``(n_scenarios, max_depth)``."""
    funnels = [_FUNNELS.get(s, _FUNNELS[_DEFAULT_FUNNEL]) for s in scenarios]
    depth = max(len(f) for f in funnels)
    behaviors: list[str] = []
    codes = np.zeros((len(scenarios), depth), dtype=np.int64)
    probs = np.zeros((len(scenarios), depth))
    gaps = np.zeros((len(scenarios), depth))
    for s, funnel in enumerate(funnels):
        for k, (beh, p, gap) in enumerate(funnel):
            if beh not in behaviors:
                behaviors.append(beh)
            codes[s, k] = behaviors.index(beh)
            probs[s, k] = p
            gaps[s, k] = gap
    return behaviors, codes, probs, gaps


def _group_sampler(
    group_of: IntArray, weight: FloatArray, members: IntArray
) -> tuple[FloatArray, IntArray]:
    """Keys for drawing a member of group ``g`` by weight with one ``searchsorted``.

    Members of group ``g`` occupy keys in ``(g, g + 1]``: the group id plus the cumulative
    normalised weight. A draw for group ``g`` is ``searchsorted(keys, g + u, "right")``.
    """
    order = np.lexsort((members, group_of))
    g, w, m = group_of[order], weight[order], members[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    csum = np.cumsum(w)
    base = np.repeat(np.r_[0.0, csum[starts[1:] - 1]], np.diff(np.r_[starts, len(g)]))
    totals = np.repeat(np.add.reduceat(w, starts), np.diff(np.r_[starts, len(g)]))
    keys = g + (csum - base) / totals
    ends = np.r_[starts[1:], len(g)] - 1
    keys[ends] = g[ends] + 1.0  # exact upper end, so a draw never spills into the next group
    return keys, m


# ---------------------------------------------------------------------------------- generate
def generate(config: SyntheticConfig | None = None) -> SyntheticData:
    """Generate the synthetic shop (see the module docstring).

    Args:
        config: sizes and knobs; the defaults give 5,000 users, 3,000 items and about 200,000
            events over 90 days in a few seconds.

    Returns:
        Raw events (text columns, with the mess a cleaner must handle), the catalog and the
        ground truth.
    """
    cfg = config or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    n_s, n_t, n_u, n_i = len(cfg.scenarios), cfg.n_topics, cfg.n_users, cfg.n_items
    span = cfg.days * _DAY

    # ---- items: topics, scenarios, popularity
    topic_pop = rng.dirichlet(np.full(n_t, 3.0))
    min_per_topic = min(3, n_i // n_t)
    sizes = min_per_topic + rng.multinomial(n_i - min_per_topic * n_t, topic_pop)
    item_topic = rng.permutation(np.repeat(np.arange(n_t), sizes)).astype(np.int64)
    item_ids = _ids("i", n_i)
    avail = rng.random((n_s, n_i)) < cfg.scenario_item_fraction
    orphan = ~avail.any(axis=0)
    avail[rng.integers(0, n_s, n_i)[orphan], np.flatnonzero(orphan)] = True
    for s in range(n_s):  # every topic must have at least one item in every scenario
        have = np.bincount(item_topic[avail[s]], minlength=n_t) > 0
        for t in np.flatnonzero(~have):
            avail[s, np.flatnonzero(item_topic == t)[0]] = True
    base_pop = rng.standard_normal(n_i)
    rho = cfg.popularity_correlation
    scen_pop = rho * base_pop + math.sqrt(1 - rho * rho) * rng.standard_normal((n_s, n_i))
    pop = np.zeros((n_s, n_i))
    for s in range(n_s):
        idx = np.flatnonzero(avail[s])
        rank = np.empty(len(idx))
        rank[np.argsort(-scen_pop[s, idx])] = np.arange(1, len(idx) + 1)
        pop[s, idx] = rank ** (-cfg.zipf_exponent)
    s_idx, i_idx = np.nonzero(avail)
    keys, members = _group_sampler(
        s_idx * n_t + item_topic[i_idx], pop[s_idx, i_idx], i_idx.astype(np.int64)
    )
    catalog, title_parts = _catalog(rng, cfg, item_topic, item_ids)
    scen_names = np.array(cfg.scenarios)
    only_one = avail.sum(axis=0) == 1
    home = pl.Series(C.SCENARIO, scen_names[avail.argmax(axis=0)], dtype=pl.String)
    catalog = catalog.with_columns(pl.when(pl.Series(only_one)).then(home).alias(C.SCENARIO))

    # ---- users: bots, scenarios, mixtures, activity, active windows
    user_ids = _ids("u", n_u)
    n_bots = 0 if cfg.bot_fraction == 0 else max(1, round(cfg.bot_fraction * n_u))
    n_bots = min(n_bots, n_u - 1)
    is_bot = np.zeros(n_u, dtype=bool)
    is_bot[rng.choice(n_u, n_bots, replace=False)] = True
    humans = np.flatnonzero(~is_bot)
    n_h = len(humans)
    s_weights = np.array(
        cfg.scenario_weights or [0.5 * 0.6**k for k in range(n_s)], dtype=np.float64
    )
    s_weights /= s_weights.sum()
    n_scen = np.where(
        rng.random(n_h) < cfg.single_scenario_fraction,
        1,
        rng.integers(min(2, n_s), n_s + 1, n_h),
    )
    n_scen = np.minimum(n_scen, n_s).astype(np.int64)
    in_scen = _pick_k(rng, s_weights, n_scen)
    scen_share = rng.gamma(2.0, size=(n_h, n_s)) * s_weights[None, :] * in_scen
    scen_share /= scen_share.sum(axis=1, keepdims=True)
    m_start, m_end = _mixtures(rng, cfg, n_h, topic_pop)
    activity = rng.lognormal(0.0, 1.0, n_h)
    window = rng.random(n_h)
    first_day = np.where(window < 0.25, rng.integers(0, max(1, int(cfg.days * 0.7)), n_h), 0)
    last_day = np.where(
        window > 0.85, rng.integers(int(cfg.days * 0.3), cfg.days, n_h), cfg.days - 1
    )
    last_day = np.maximum(last_day, first_day)

    # ---- sizes: bots, duplicates, the rest is human behaviour
    n_dup = round(cfg.duplicate_fraction * cfg.n_events)
    n_bot_events = round(cfg.bot_event_share * cfg.n_events) if n_bots else 0
    human_target = max(0, cfg.n_events - n_dup - n_bot_events)
    behaviors, codes, probs, gaps = _funnel_tables(cfg.scenarios)
    depth = probs.shape[1]
    est_len = float((np.cumprod(probs, axis=1).sum(axis=1) * s_weights).sum())
    n_extra = math.ceil(max(0.0, human_target - n_h * est_len) / est_len * 1.3) + 10
    # One intent per user first (so every human appears), then the rest by activity.
    iu = np.r_[np.arange(n_h), rng.choice(n_h, n_extra, p=activity / activity.sum())]
    n_int = len(iu)

    # ---- intents: scenario, time, topic, item, funnel depth
    isc = _sample_rows(rng, scen_share[iu])
    day = first_day[iu] + np.floor(rng.random(n_int) * (last_day[iu] - first_day[iu] + 1))
    hour = rng.choice(24, n_int, p=_HOURLY / _HOURLY.sum())
    t0 = day * _DAY + hour * 3600 + rng.random(n_int) * 3600
    frac = (t0 / span)[:, None]
    mix = (1.0 - frac) * m_start[iu] + frac * m_end[iu]
    topic = _sample_rows(rng, mix)
    noisy = rng.random(n_int) < cfg.noise
    topic[noisy] = rng.choice(n_t, int(noisy.sum()), p=topic_pop)
    affinity = mix[np.arange(n_int), topic]
    draw = (isc * n_t + topic) + rng.random(n_int)
    item = members[np.minimum(np.searchsorted(keys, draw, side="right"), len(keys) - 1)]

    factor = 0.6 + 0.8 * affinity  # interested users go deeper down the funnel
    d = np.ones(n_int, dtype=np.int64)
    going = np.ones(n_int, dtype=bool)
    for k in range(1, depth):
        going &= rng.random(n_int) < np.minimum(probs[isc, k] * factor, 0.95)
        d += going
    keep = np.cumsum(d) <= human_target  # the one-per-user intents come first: kept first
    if d[keep].sum() < human_target * 0.98:
        logger.info(
            "synthetic: %d human events, fewer than the %d targeted", d[keep].sum(), human_target
        )
    sel = np.flatnonzero(keep)
    iu, isc, t0, topic, item, affinity, d = (
        a[sel] for a in (iu, isc, t0, topic, item, affinity, d)
    )

    # ---- expand intents into events
    owner = np.repeat(np.arange(len(d)), d)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(d) - d, d)
    e_scen = isc[owner]
    gap = rng.exponential(1.0, len(owner)) * gaps[e_scen, step]
    csum = np.cumsum(gap)
    offset = csum - np.repeat(csum[np.cumsum(d) - d], d)  # seconds since the intent's first step
    e_ts = np.minimum(t0[owner] + offset, span - 1)
    e_beh = codes[e_scen, step]
    e_item = item[owner]
    beh_names = np.array(behaviors)
    dwell_ok = np.isin(beh_names[e_beh], _DWELL_BEHAVIORS)
    e_value = np.where(dwell_ok, rng.lognormal(math.log(20.0) + affinity[owner], 0.8), np.nan)
    is_search = beh_names[e_beh] == "search"
    e_query = _queries(rng, cfg, item_topic, title_parts, catalog, e_item, is_search)
    e_user = humans[iu[owner]]

    # ---- bots: bursts of views/clicks on random items, seconds apart
    b_user, b_item, b_scen, b_beh, b_ts, b_val = _bots(
        rng, cfg, np.flatnonzero(is_bot), n_bot_events, avail, behaviors, span
    )
    # ---- assemble, in logging order (a few rows arrive late)
    users = np.r_[e_user, b_user]
    items_ = np.r_[e_item, b_item]
    scens = np.r_[e_scen, b_scen]
    behs = np.r_[e_beh, b_beh]
    ts = np.floor(np.r_[e_ts, b_ts]).astype(np.int64) + cfg.start
    values = np.r_[e_value, b_val]
    queries = pl.concat([e_query, pl.Series(values=[None] * len(b_user), dtype=pl.String)])
    arrival = ts + rng.exponential(2.0, len(ts))
    late = rng.random(len(ts)) < cfg.late_fraction
    arrival[late] += rng.exponential(3600.0, int(late.sum()))
    order = np.argsort(arrival, kind="stable")
    # Duplicates: a row followed by its exact copy.
    is_dup_src = np.zeros(len(order), dtype=bool)
    if n_dup:
        is_dup_src[rng.choice(len(order), min(n_dup, len(order)), replace=False)] = True
    order = np.repeat(order, 1 + is_dup_src.astype(np.int64))

    value_txt = pl.Series(values[order]).round(1)
    events = pl.DataFrame(
        {
            C.USER_ID: user_ids.gather(users[order]),
            C.ITEM_ID: item_ids.gather(items_[order]),
            C.SCENARIO: pl.Series(scen_names[scens[order]]),
            C.BEHAVIOR: pl.Series(beh_names[behs[order]]),
            C.TIMESTAMP: pl.Series(ts[order]).cast(pl.String),
            C.VALUE: value_txt.fill_nan(None).cast(pl.String),
            C.QUERY: queries.gather(order),
        }
    ).select(list(EVENT_COLUMNS))
    events, malformed, iso_rows = _corrupt(rng, cfg, events)
    repeat = events.select(~pl.struct(pl.all()).is_first_distinct()).to_series().to_numpy()
    dup_rows = (np.flatnonzero(repeat) + 1).tolist()

    truth = _truth(
        cfg,
        user_ids,
        humans,
        is_bot,
        in_scen,
        m_start,
        m_end,
        item_ids,
        item_topic,
        avail,
        catalog,
        malformed,
        dup_rows,
        iso_rows,
    )
    logger.info(
        "synthetic: %d events (%d bots, %d malformed, %d duplicates), %d users, %d items",
        events.height,
        n_bots,
        len(malformed),
        len(dup_rows),
        n_u,
        n_i,
    )
    return SyntheticData(events=events, catalog=catalog, truth=truth, config=cfg)


def _queries(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    item_topic: IntArray,
    parts: dict[str, IntArray],
    catalog: pl.DataFrame,
    e_item: IntArray,
    is_search: BoolArray,
) -> pl.Series:
    """Search text for the ``search`` rows (null elsewhere): words of the item then clicked."""
    n = len(e_item)
    topics = _TOPICS[: cfg.n_topics]
    words = np.array([tp.words for tp in topics])
    nouns = np.array([tp.nouns for tp in topics])
    t = item_topic[e_item]
    use_brand = rng.random(n) < 0.15
    use_w1 = rng.random(n) < 0.5
    use_w2 = rng.random(n) < 0.3
    use_extra = rng.random(n) < 0.3
    use_noun = (rng.random(n) < 0.85) | ~(use_brand | use_w1 | use_w2 | use_extra)
    brand = catalog[C.BRAND].gather(e_item).str.to_lowercase()
    df = pl.DataFrame(
        {
            "brand": brand,
            "w1": words[t, parts["w1"][e_item]],
            "w2": words[t, parts["w2"][e_item]],
            "extra": words[t, rng.integers(0, _N_WORDS, n)],
            "noun": nouns[t, parts["noun"][e_item]],
            "use_brand": use_brand,
            "use_w1": use_w1,
            "use_w2": use_w2,
            "use_extra": use_extra,
            "use_noun": use_noun,
            "is_search": is_search,
        }
    )
    q = pl.concat_str(
        [pl.when(pl.col(f"use_{c}")).then(pl.col(c)) for c in ("brand", "extra", "w1", "w2")]
        + [pl.when(pl.col("use_noun")).then(pl.col("noun"))],
        separator=" ",
        ignore_nulls=True,
    )
    return df.select(pl.when(pl.col("is_search")).then(q).alias(C.QUERY)).to_series()


def _bots(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    bots: IntArray,
    n_events: int,
    avail: BoolArray,
    behaviors: list[str],
    span: int,
) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    """Bot rows: each bot crawls one (non-search) scenario in a burst a few seconds apart."""
    if len(bots) == 0 or n_events == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z, z, np.zeros(0), np.zeros(0)
    counts = rng.multinomial(n_events, np.full(len(bots), 1.0 / len(bots)))
    owner = np.repeat(np.arange(len(bots)), counts)
    crawlable = [s for s, name in enumerate(cfg.scenarios) if name != "search"] or [0]
    b_scen = np.array(crawlable)[rng.integers(0, len(crawlable), len(bots))]
    start = rng.random(len(bots)) * max(1.0, span - 6 * 3600)
    gap = rng.exponential(cfg.bot_gap_seconds, len(owner))
    csum = np.cumsum(gap)
    first = np.cumsum(counts) - counts
    offset = csum - np.repeat(csum[np.minimum(first, len(csum) - 1)], counts)
    ts = np.minimum(start[owner] + offset, span - 1)
    scen = b_scen[owner]
    items = np.empty(len(owner), dtype=np.int64)
    for s in np.unique(scen):  # uniform over the scenario's items: a crawler, not a shopper
        pool = np.flatnonzero(avail[s])
        here = scen == s
        items[here] = pool[rng.integers(0, len(pool), int(here.sum()))]
    # A search-only shop has no "view": the bot then fires its scenario's first behaviour.
    view = behaviors.index("view") if "view" in behaviors else 0
    click = behaviors.index("click") if "click" in behaviors else view
    beh = np.where(rng.random(len(owner)) < 0.85, view, click).astype(np.int64)
    value = rng.random(len(owner))  # a bot does not read: dwell under a second
    return bots[owner].astype(np.int64), items, scen.astype(np.int64), beh, ts, value


def _corrupt(
    rng: np.random.Generator, cfg: SyntheticConfig, events: pl.DataFrame
) -> tuple[pl.DataFrame, dict[int, str], list[int]]:
    """Corrupt one field of some rows and write some timestamps as ISO-8601 text.

    Rows that have an exact copy next to them are left alone, so a duplicate stays a duplicate.
    """
    n = events.height
    dup_any = events.is_duplicated().to_numpy()
    free = np.flatnonzero(~dup_any)
    n_bad = min(len(free), round(cfg.malformed_fraction * n))
    n_iso = min(len(free) - n_bad, round(cfg.iso_timestamp_fraction * n))
    pick = rng.permutation(free)
    bad_rows, iso_rows = np.sort(pick[:n_bad]), np.sort(pick[n_bad : n_bad + n_iso])
    kind = np.full(n, -1, dtype=np.int64)
    kind[bad_rows] = rng.integers(0, len(MALFORMED_KINDS), n_bad)
    bad_ts = np.array(_BAD_TIMESTAMPS)[rng.integers(0, len(_BAD_TIMESTAMPS), n)]
    bad_val = np.array(_BAD_VALUES)[rng.integers(0, len(_BAD_VALUES), n)]
    iso = np.zeros(n, dtype=bool)
    iso[iso_rows] = True
    z_suffix = rng.random(n) < 0.5
    k = {name: pl.lit(i) for i, name in enumerate(MALFORMED_KINDS)}
    ts_num = pl.col(C.TIMESTAMP).cast(pl.Int64, strict=False)
    iso_text = pl.from_epoch(ts_num, time_unit="s")
    out = events.with_columns(
        pl.Series("_kind", kind),
        pl.Series("_bad_ts", bad_ts),
        pl.Series("_bad_val", bad_val),
        pl.Series("_iso", iso),
        pl.Series("_z", z_suffix),
    ).with_columns(
        pl.when(pl.col("_kind") == k["missing_user"])
        .then(None)
        .otherwise(pl.col(C.USER_ID))
        .alias(C.USER_ID),
        pl.when(pl.col("_kind") == k["missing_item"])
        .then(None)
        .otherwise(pl.col(C.ITEM_ID))
        .alias(C.ITEM_ID),
        pl.when(pl.col("_kind") == k["bad_timestamp"])
        .then(pl.col("_bad_ts"))
        .when(pl.col("_iso") & pl.col("_z"))
        .then(iso_text.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .when(pl.col("_iso"))
        .then(iso_text.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        .otherwise(pl.col(C.TIMESTAMP))
        .alias(C.TIMESTAMP),
        pl.when(pl.col("_kind") == k["bad_value"])
        .then(pl.col("_bad_val"))
        .otherwise(pl.col(C.VALUE))
        .alias(C.VALUE),
    )
    malformed = {int(r) + 1: MALFORMED_KINDS[kind[r]] for r in bad_rows}
    return out.select(events.columns), malformed, (iso_rows + 1).tolist()


def _truth(
    cfg: SyntheticConfig,
    user_ids: pl.Series,
    humans: IntArray,
    is_bot: BoolArray,
    in_scen: BoolArray,
    m_start: FloatArray,
    m_end: FloatArray,
    item_ids: pl.Series,
    item_topic: IntArray,
    avail: BoolArray,
    catalog: pl.DataFrame,
    malformed: dict[int, str],
    dup_rows: list[int],
    iso_rows: list[int],
) -> dict[str, Any]:
    n_u, n_t = len(user_ids), cfg.n_topics
    start = np.zeros((n_u, n_t))
    end = np.zeros((n_u, n_t))
    start[humans], end[humans] = m_start, m_end
    uid = user_ids.to_list()
    iid = item_ids.to_list()
    names = [tp.name for tp in _TOPICS[:n_t]]
    no_text = catalog.filter(pl.col(C.TITLE).is_null())[C.ITEM_ID].to_list()
    return {
        "topics": names,
        "user_ids": uid,
        "mixture_start": start,
        "mixture_end": end,
        "user_scenarios": {
            uid[u]: [cfg.scenarios[s] for s in np.flatnonzero(in_scen[k])]
            for k, u in enumerate(humans)
        },
        "item_topic": {iid[i]: names[t] for i, t in enumerate(item_topic)},
        "scenario_items": {
            s: [iid[i] for i in np.flatnonzero(avail[k])] for k, s in enumerate(cfg.scenarios)
        },
        "bots": [uid[u] for u in np.flatnonzero(is_bot)],
        "malformed_rows": malformed,
        "duplicate_rows": dup_rows,
        "iso_rows": iso_rows,
        "items_without_text": no_text,
        "time_span": (cfg.start, cfg.start + cfg.days * _DAY - 1),
    }
