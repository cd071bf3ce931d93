"""Revisions of the framework's schema."""
