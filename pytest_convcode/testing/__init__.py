"""Helpers for testing the harness and the models it drives: no test runs against a real model."""
