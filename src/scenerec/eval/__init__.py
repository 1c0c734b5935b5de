"""Evaluation: metrics, protocols, significance and reports."""
