"""Measurement: what is done on the network, step by step."""
