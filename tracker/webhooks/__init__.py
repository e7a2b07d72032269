"""Signed webhooks, the pure parts: signatures, message bodies, secrets at rest.

``signing`` (Standard Webhooks headers), ``payload`` (the JSON body, cut to a size cap) and
``secrets`` (sealing signing secrets for storage). Delivery, with its I/O and retries, lives in
``tracker.delivery``; nothing here touches the network, the database or the environment.
"""
