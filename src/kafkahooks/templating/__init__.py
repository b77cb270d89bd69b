"""Placeholder paths, the template compiler and code generator, template sets and route filters."""
