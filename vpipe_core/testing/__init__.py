"""Local stand-ins for tests and the demo; importable by plugin authors' own tests.

Nothing here is used by production code paths.
"""
