"""Data layer: reading, cleaning, splitting and the Dataset object."""
