"""End-to-end tests: the stack's processes on loopback, from app metrics to notifications (conftest.py)."""
