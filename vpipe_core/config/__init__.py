"""Typed settings from the environment and an optional `.env` file."""
