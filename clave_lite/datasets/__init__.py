"""Converters from public data sets (FULCRA, Touche23, ValueCSV) to labelled tuples, and train/validation splits."""
