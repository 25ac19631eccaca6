"""Build scripts for the repository (figures for docs/, shared paths); not part of the wheel."""
