"""The embedded sandbox EHR: a SMART authorization server plus a FHIR R4 server.

It is a separate program that happens to ship with the app (``python -m app.sandbox``);
it imports nothing from the other app layers, so it can be held against a real EHR.
"""
