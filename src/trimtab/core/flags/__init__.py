"""Internals of the flag evaluation core.

Import from `trimtab.core.evaluation` (and `trimtab.core.unleash`, `trimtab.core.schedules`);
the modules in this package are split by concept and may move:

- `results`    EvaluationResult, reasons and error codes (the OFREP vocabulary)
- `values`     how context values are read: text form, numbers, semantic versions, dates
- `config`     validation and normalization of a flag config (FlagConfigError)
- `operators`  constraints compiled into small predicates
- `bucketing`  murmur3 rollout buckets and weighted splits, compatible with Unleash
- `unleash_values`  single constraints, values and names written for Unleash SDKs
"""
