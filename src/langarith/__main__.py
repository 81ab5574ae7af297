"""`python -m langarith` = the `langarith` command."""

from langarith.cli import main

main()
