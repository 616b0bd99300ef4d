"""Performance benchmarks of the configurator engine (see bench/configurator.py)."""
