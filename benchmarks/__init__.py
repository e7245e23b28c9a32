"""Benchmarks: the engine's speed against the tools people would use instead.

``python -m benchmarks`` runs every section and writes a Markdown and a CSV table with
the machine's description to ``benchmarks/results/``. Each section is a module with a
``run(settings) -> list[Row]`` function; ``benchmarks.table`` writes the rows. See
benchmarks/README.md.
"""
