"""The shared contract at the bottom of the layers: the result document's typed model, its
vocabularies (device, status, scenario kind), validity rules and the user-facing errors.

It imports no other package of the suite: every other package may import it. Result files are
read and written here too (storage.py), so every reader and writer shares one policy.
"""
