"""The arithmetic, model-free: a module's tensors (`module`), the operators and their semantics (`algebra`),
expressions, the papers' recipes, low-rank truncation, `compose`, the module formats (PEFT, AdapterHub,
safetensors) and merges (TIES, DARE, magnitude)."""
