"""A realistic test corpus for the hold engine, built independently of firmware_sim.

``sessions.CONDITIONS`` maps condition names to generators ``gen(seed) -> (time_s, force, unit,
truth)``; ``write`` writes them as CSV + truth JSON; ``scoring`` scores an engine's output
against the truth. Modelling choices and their sources: docs/corpus.md.
"""
