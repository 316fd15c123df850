"""Partition-scoped key stores whose durable copy is a compacted changelog topic (issue 14):
the state of input partition p lives in changelog partition p, so it follows the partition to
whichever instance, on whichever host, is assigned p next."""
