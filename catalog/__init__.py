"""Product catalog: the product model format, its parser and validator, and persistence."""
