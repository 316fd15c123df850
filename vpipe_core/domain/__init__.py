"""What every domain has, declared once: the settings base class and the builder of a domain's
worker specs. A domain package subclasses and fills these in with its own facts."""
