"""Contract suites use the session-wide servers of tests/conftest.py."""
