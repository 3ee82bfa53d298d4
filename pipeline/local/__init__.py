"""Run the deployed workflow locally.

* :mod:`pipeline.local.workflow` — the synthesized state machine on moto's Step Functions
  interpreter with the real handlers in-process (``LocalWorkflow``).
* :mod:`pipeline.local.ask` — ``python -m pipeline ask "query"``.
"""
