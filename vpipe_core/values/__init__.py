"""Small rules for record values: field aliases, name-based ids, timestamps, JSON objects."""
