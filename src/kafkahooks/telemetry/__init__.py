"""Metric definitions and logging set-up: the bottom layer, importable from everywhere."""
