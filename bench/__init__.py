"""Benchmarks: each prints its figures as ratios against a baseline run side by side (see DESIGN section 8)."""
