"""The podium command line."""
