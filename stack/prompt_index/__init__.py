"""The Prompts-table index loader: one custom resource for every template version."""
