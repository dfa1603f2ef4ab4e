"""Semantic comparison of two policies, without a corpus (``mailpolicy diff --semantic``).

``compare(old, new)`` decides whether NEW stops every message OLD stops and the reverse,
for the conditions it reasons about (names, extensions, double extensions, globs, name
lists, sender and recipient lists and globs, type classes, sizes and the fail-closed
flags, under and/or/not, ``unless``, rule order and the default), and gives concrete
counterexamples, each built as a ``Message`` and confirmed by both compiled matchers.
Conditions it does not interpret (content, archive members, texts, headers, MIME types)
are free facts, listed in ``not_compared``. Modules: ``automata`` (names and addresses),
``bdd``, ``model`` (policies as BDDs), ``realize`` (building messages), ``compare``.
It imports no corpus reader and nothing of the simulator.
"""

from mailpolicy.policy.semantic.compare import Result, compare

__all__ = ["Result", "compare"]
