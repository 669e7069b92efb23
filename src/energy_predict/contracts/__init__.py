"""Typed contracts: the values that cross a stage boundary, validated on read."""
