"""Helpers shared by the test tiers and the sample SIP generator."""
