"""Configurator engine: a product model compiled to SAT, with python-constraint as reference."""
