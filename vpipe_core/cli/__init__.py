"""Command-line entry points: `vpipe` (operations) and `vpipe-worker` (one worker)."""
