"""vpipe XACT domain. Its workers are registered in `specs` through the `vpipe.workers` group."""
