"""``make bench``: the send path, audiences, segments, the rate limiter and webhooks, measured.

Run ``python -m bench`` (what ``make bench`` does). See bench/RESULTS.md for the latest figures.
"""
