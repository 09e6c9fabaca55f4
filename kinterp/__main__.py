"""``python -m kinterp``."""

from kinterp.cli import main

main()
