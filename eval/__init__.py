"""Evaluation: reference questions with gold passages, and retrieval metrics over them."""
