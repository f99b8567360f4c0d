"""`python -m bench`: the `bench` command line."""

from bench.commands.main import main

main()
