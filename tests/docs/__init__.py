"""Checks that keep README.md and docs/ true to the code: configuration table, examples, links."""
