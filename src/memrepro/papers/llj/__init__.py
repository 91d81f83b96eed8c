"""Liu, Lin & Jaggi 2022, "Understanding memorization from the perspective of optimization via
efficient influence estimation" (LLJ): turn-over dropout memorization scores, easy/difficult
partitions and the figures built on them.

Deliberately empty: a training job imports only the modules it needs (``tod``, ``mask_hash``)
and never loads figure code through this package.
"""
