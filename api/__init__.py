"""HTTP and command-line front ends: the Flask app factory, blueprints, schemas, CLI.

This is the only layer that knows about Flask; it translates requests into calls on the
domain packages (catalog, configurator) and their results back into JSON.
"""
