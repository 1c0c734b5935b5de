"""The words of the synthetic shop: topics (descriptive words, product nouns, brands) and the
text shared by every topic (house brands, suffixes, stock phrases), which carries no signal."""

from __future__ import annotations

from typing import Final, NamedTuple


class Topic(NamedTuple):
    name: str
    parent: str
    words: tuple[str, ...]  # 14 descriptive words (lower case)
    nouns: tuple[str, ...]  # 6 product nouns (lower case)
    brands: tuple[str, ...]  # 4 brands


N_WORDS: Final = 14
N_NOUNS: Final = 6
N_BRANDS: Final = 4

# Hand-written so that the text means something; a few words are shared on purpose ("bass" is a
# fish and a guitar, "organic" is tea and gardening) because real catalogues are ambiguous.
# fmt: off
TOPICS: Final[tuple[Topic, ...]] = (
    Topic(
        "hiking", "Outdoors",
        ("trail", "waterproof", "alpine", "summit", "rugged", "breathable", "lightweight",
         "ridge", "backcountry", "insulated", "trekking", "canyon", "ultralight", "ripstop"),
        ("boots", "tent", "backpack", "trekking poles", "headlamp", "sleeping bag"),
        ("Ridgeline", "Summit Peak", "Trailcraft", "Alpenwood"),
    ),
    Topic(
        "baking", "Kitchen",
        ("flour", "sourdough", "oven", "yeast", "whisk", "dough", "pastry", "rye", "proofing",
         "crust", "knead", "butter", "batter", "artisan"),
        ("loaf pan", "stand mixer", "baking sheet", "proofing basket", "rolling pin",
         "dough scraper"),
        ("Hearth & Crumb", "Ovenly", "Millstone", "Crumbworks"),
    ),
    Topic(
        "coffee", "Kitchen",
        ("espresso", "arabica", "roast", "burr", "pour-over", "crema", "single-origin", "barista",
         "brew", "decaf", "ethiopian", "dark", "aromatic", "cold-brew"),
        ("coffee beans", "espresso machine", "burr grinder", "french press", "milk frother",
         "gooseneck kettle"),
        ("Crema Co", "Roastery Nine", "Bean & Barrel", "Brewhaus"),
    ),
    Topic(
        "gaming", "Electronics",
        ("rgb", "mechanical", "wireless", "fps", "console", "esports", "low-latency", "144hz",
         "streaming", "joystick", "pro", "haptic", "tactile", "multiplayer"),
        ("gaming mouse", "keyboard", "headset", "controller", "gaming chair", "monitor"),
        ("Pixelforge", "Respawn Gear", "Hyperlag", "Nexus Play"),
    ),
    Topic(
        "photography", "Electronics",
        ("aperture", "mirrorless", "zoom", "prime", "shutter", "sensor", "bokeh", "wide-angle",
         "telephoto", "stabilized", "full-frame", "portrait", "macro", "optical"),
        ("camera", "lens", "tripod", "camera bag", "memory card", "flash"),
        ("Lumina", "Aperture Labs", "Focal Point", "Silverhalide"),
    ),
    Topic(
        "running", "Sports",
        ("marathon", "cushioned", "stride", "tempo", "reflective", "pace", "carbon-plated",
         "racing", "heel", "distance", "recovery", "sprint", "moisture-wicking", "trail"),
        ("running shoes", "running shorts", "gps watch", "hydration vest", "compression socks",
         "armband"),
        ("Stridewell", "Pacer", "Tempo Athletics", "Kinetic"),
    ),
    Topic(
        "yoga", "Sports",
        ("stretch", "meditation", "balance", "flexibility", "non-slip", "cork", "mindful", "pose",
         "breath", "studio", "restorative", "eco", "zen", "vinyasa"),
        ("yoga mat", "yoga block", "yoga strap", "bolster", "meditation cushion", "leggings"),
        ("Lotus Flow", "Namaste Co", "Zenform", "Breathwork"),
    ),
    Topic(
        "gardening", "Home & Garden",
        ("soil", "compost", "seed", "organic", "pruning", "perennial", "raised", "heirloom",
         "watering", "mulch", "bloom", "herb", "greenhouse", "succulent"),
        ("garden hose", "pruning shears", "planter", "seed kit", "watering can", "garden gloves"),
        ("Greenthumb", "Rootwise", "Bloomfield", "Terra Verde"),
    ),
    Topic(
        "skincare", "Beauty",
        ("hydrating", "retinol", "spf", "moisturizing", "vitamin", "hyaluronic", "gentle",
         "fragrance-free", "exfoliating", "niacinamide", "dewy", "sensitive", "glow",
         "brightening"),
        ("face serum", "moisturizer", "sunscreen", "cleanser", "face mask", "eye cream"),
        ("Dewdrop", "Lumiskin", "Pure Botanica", "Veloure"),
    ),
    Topic(
        "baby", "Baby",
        ("newborn", "cotton", "soft", "toddler", "swaddle", "teething", "nursery", "gentle",
         "bpa-free", "washable", "bedtime", "sleepy", "cuddly", "hypoallergenic"),
        ("baby bottle", "swaddle blanket", "teether", "baby monitor", "diaper bag", "crib sheet"),
        ("Little Sprout", "Cuddlebug", "Tiny Steps", "Nestling"),
    ),
    Topic(
        "pets", "Pets",
        ("dog", "cat", "puppy", "kitten", "chew", "grain-free", "catnip", "fetch", "kibble",
         "grooming", "scratching", "treat", "paw", "furry"),
        ("dog bed", "cat tree", "chew toy", "pet food", "dog leash", "litter box"),
        ("Pawsome", "Whiskerly", "Barkley & Co", "Furbright"),
    ),
    Topic(
        "fantasy books", "Books",
        ("fantasy", "dragon", "epic", "mythic", "hardcover", "saga", "wizard", "kingdom", "quest",
         "magic", "trilogy", "bestselling", "sword", "legend"),
        ("novel", "box set", "paperback", "audiobook", "illustrated edition", "map poster"),
        ("Ember Press", "Quill House", "Moonlit Books", "Arcana"),
    ),
    Topic(
        "guitar", "Music",
        ("acoustic", "chord", "fret", "resonant", "steel", "tuner", "pedal", "studio", "bass",
         "melody", "tone", "maple", "rosewood", "electric"),
        ("acoustic guitar", "guitar strings", "amplifier", "effects pedal", "capo", "ukulele"),
        ("Harmonia", "Fretline", "Soundhole", "Tonewood"),
    ),
    Topic(
        "fishing", "Outdoors",
        ("lure", "bait", "reel", "trout", "bass", "fly", "tackle", "spinning", "braided",
         "casting", "angler", "lake", "hook", "saltwater"),
        ("fishing rod", "spinning reel", "tackle box", "fishing line", "lure set", "waders"),
        ("Riverbend", "Tightline", "Angler's Choice", "Driftwood"),
    ),
    Topic(
        "tea", "Grocery",
        ("matcha", "oolong", "loose-leaf", "green", "herbal", "chamomile", "jasmine", "earl grey",
         "steep", "ceremonial", "sencha", "chai", "organic", "darjeeling"),
        ("tea tin", "teapot", "tea infuser", "matcha whisk", "tea sampler", "tea mug"),
        ("Leaf & Kettle", "Jade Garden", "Steepwell", "Camellia"),
    ),
    Topic(
        "home office", "Office",
        ("ergonomic", "standing", "adjustable", "lumbar", "cable", "desk", "productivity",
         "wireless", "noise-cancelling", "laptop", "usb-c", "dual", "compact", "posture"),
        ("office chair", "standing desk", "monitor arm", "laptop stand", "docking station",
         "desk lamp"),
        ("Workwell", "Deskcraft", "Ergonomix", "Officio"),
    ),
    Topic(
        "strength training", "Sports",
        ("dumbbell", "conditioning", "resistance", "protein", "strength", "barbell", "squat",
         "grip", "adjustable", "workout", "hiit", "muscle", "weight", "olympic"),
        ("dumbbells", "kettlebell", "resistance bands", "weight bench", "protein powder",
         "pull-up bar"),
        ("IronCore", "Forge Fitness", "Repmax", "Titanlift"),
    ),
    Topic(
        "grilling", "Outdoors",
        ("bbq", "charcoal", "smoker", "brisket", "grill", "marinade", "rub", "cast-iron",
         "skewer", "smoky", "propane", "tongs", "sear", "hickory"),
        ("charcoal grill", "pellet smoker", "meat thermometer", "grill brush", "bbq sauce",
         "cast iron skillet"),
        ("Emberline", "Smokehouse", "Flame & Iron", "Pitmaster"),
    ),
    Topic(
        "travel", "Travel",
        ("carry-on", "luggage", "passport", "packing", "spinner", "hardshell", "neck", "adapter",
         "tsa", "compact", "weekender", "jetlag", "roller", "organizer"),
        ("suitcase", "packing cubes", "travel pillow", "travel adapter", "duffel bag",
         "toiletry kit"),
        ("Wanderly", "Jetset", "Globetrot", "Nomad & Co"),
    ),
    Topic(
        "knitting", "Crafts",
        ("yarn", "wool", "merino", "stitch", "knit", "crochet", "skein", "chunky", "pattern",
         "cozy", "alpaca", "cable", "purl", "handmade"),
        ("yarn bundle", "knitting needles", "crochet hook set", "pattern book", "stitch markers",
         "project bag"),
        ("Woolly Mill", "Purlwise", "Skein & Co", "Loopcraft"),
    ),
    Topic(
        "smart home", "Electronics",
        ("smart", "wifi", "voice", "automation", "sensor", "dimmable", "programmable", "hub",
         "zigbee", "motion", "energy", "remote", "schedule", "app-controlled"),
        ("smart plug", "smart bulb", "thermostat", "video doorbell", "motion sensor",
         "smart speaker"),
        ("Homelink", "Brightnode", "Circuitry", "Nestwise"),
    ),
    Topic(
        "wine", "Grocery",
        ("cabernet", "merlot", "vintage", "sommelier", "oak", "tannin", "bordeaux", "riesling",
         "sparkling", "aerating", "cellar", "pinot", "chardonnay", "rosé"),
        ("wine glasses", "decanter", "corkscrew", "wine rack", "aerator", "wine fridge"),
        ("Vinoteca", "Cellar Door", "Oak & Vine", "Sommelia"),
    ),
    Topic(
        "painting", "Crafts",
        ("acrylic", "watercolor", "canvas", "brush", "pigment", "vibrant", "fine-art", "oil",
         "sketch", "gouache", "artist", "landscape", "blending", "impasto"),
        ("paint set", "canvas panels", "brush set", "easel", "sketchbook", "palette"),
        ("Artisto", "Brushwork", "Canvas & Co", "Pigmenta"),
    ),
    Topic(
        "cycling", "Sports",
        ("carbon", "road", "gravel", "aero", "clipless", "tubeless", "mountain", "commuter",
         "disc", "cadence", "peloton", "climbing", "hi-vis", "downhill"),
        ("bike", "bike helmet", "saddle", "cycling jersey", "bike light", "bike pump"),
        ("Velocita", "Spokewise", "Crankset Co", "Pelotonic"),
    ),
)
# fmt: on

TOPIC_NAMES: Final[tuple[str, ...]] = tuple(t.name for t in TOPICS)
"""Names of the built-in topics, in order; ``SyntheticConfig.n_topics`` takes the first ones."""

# Text shared by every topic: it carries no signal, as in a real catalogue.
HOUSE_BRANDS: Final = ("Everyday", "Northwind", "Basics Plus", "Mercato")
SUFFIXES: Final = ("- Black", "- Blue", "- Large", "- Small", "2 Pack", "(New Edition)")
PHRASES: Final = (
    "Great value.",
    "Ships in two days.",
    "A customer favourite.",
    "Limited edition.",
    "Backed by a one-year warranty.",
    "Gift ready.",
    "Made to last.",
    "Rated highly by our shoppers.",
)
