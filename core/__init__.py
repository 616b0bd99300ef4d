"""Framework-free plumbing shared by every package: settings and database access.

Nothing under core (or catalog/configurator) may import Flask, so the domain can be used
from the CLI, tests and benchmarks without an application context.
"""
