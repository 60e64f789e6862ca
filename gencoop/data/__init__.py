"""Data sets: 2-D toys made in-process (more layers arrive with the training harness)."""
