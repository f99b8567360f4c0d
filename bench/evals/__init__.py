"""`bench eval`: your own task, scored, next to its cost.

tasks.py reads the task file, scorers.py scores an answer, wilson.py gives the accuracy's
interval, local.py and remote.py send tasks through the engines `bench run` uses, run.py runs it.
"""
