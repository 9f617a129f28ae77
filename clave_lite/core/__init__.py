"""The data model every layer shares: labels, value systems, tuples, the prompt template, the block mask, injection attacks, JSONL/CSV reading."""
