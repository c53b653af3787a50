"""The composition root and HTTP app."""
