"""Main jobs: one module per task wires the stages together and writes the report."""
