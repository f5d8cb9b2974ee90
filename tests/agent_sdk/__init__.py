"""Tests of the agent runtime contract and its host."""
