"""The `cpq` command line: one module per command family, loaded only when its command runs
(cli/main.py), so `cpq --help` answers without importing the domain."""
