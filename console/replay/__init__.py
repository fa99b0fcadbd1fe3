"""Replay: plan a selection (dry run), persist it as a job, send it signed, resume or cancel it."""
