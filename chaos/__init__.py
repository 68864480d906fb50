"""Fault drills (``make chaos``): real processes under failure, judged by the sandbox's log of sends.

Each drill starts the production-like stack (bench.stack), runs one campaign scenario while it
breaks something (workers, Redis, database connections, the API, webhooks, opt-outs, concurrency)
and prints one line: recipients, sent, duplicates, lost, unknown, consent violations, time.
"""
