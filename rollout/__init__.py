"""Progressive delivery from the stack file: a judge with no state of its own (docs/rollout.md).

The pure core (`samples`, `stats`, `checks`, `judge`) turns a service's config,
when its current step began and the two tracks' samples into one decision.
The adapters at the edge read Prometheus (`prometheus`), the stack file's git
history (`history`) and write the one-line change (`stack_edit`); `cli` is
`python -m rollout`.
"""
