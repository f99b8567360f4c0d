"""The shared contract at the bottom of the layers: the result document's typed model, its
vocabularies (device, status, scenario kind), validity rules and the user-facing errors.

It imports nothing from bench/, models/, scenarios/, hardware/ or dashboards/: every other
package may import it.
"""
