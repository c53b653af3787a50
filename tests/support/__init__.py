"""Helpers the tests share: real servers (PostgreSQL, S3, Podium) started on loopback."""
