"""Data layer: reading, cleaning, splitting, public data sets, the synthetic shop, Dataset."""
