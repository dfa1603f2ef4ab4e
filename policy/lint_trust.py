"""Lint about trust: exceptions that trust a forgeable sender on dangerous content.

- ``W209 unauthenticated-trust``: a rule about executables, disk images or macros has an
  exception that trusts the sender (``sender in``/``sender matches``, ``from contains``/
  ``from matches``) without ``authenticated``: anyone can write that sender. The exception
  is the rule's ``unless``, or an earlier enforced ``allow`` rule whose condition trusts
  the sender. A test of the sender counts as authenticated when it sits in an ``and`` with
  ``sender authenticated``.
- ``W212 no-authserv-id``: the policy says ``authenticated`` but names no
  ``authserv-id``: no Authentication-Results field counts, only SMTP AUTH at the MTA.

Example::

    block attachment extension in executable unless sender in partners   # W209
    block attachment extension in executable unless sender in partners authenticated  # fine
"""

from __future__ import annotations

from collections.abc import Iterator

from mailpolicy.policy import ast, printer
from mailpolicy.policy.checked import CheckedPolicy
from mailpolicy.policy.diagnostics import Diagnostic, warning

#: Extensions that make a rule one about executables, disk images or macro documents.
DANGEROUS_EXTENSIONS = frozenset(
    "exe com scr pif bat cmd vbs vbe js jse wsf wsh hta lnk cpl msi msix appx dll ps1 jar "
    "reg scf url xll iso img vhd vhdx udf dmg docm xlsm pptm dotm xltm xlam ppam one".split()
)
_DANGEROUS_TYPES = ("executable", "disk-image")


def _dangerous(cond: ast.Cond, policy: CheckedPolicy) -> bool:
    for node in ast.walk(cond):
        if isinstance(node, (ast.HasMacros, ast.HasAutoRunMacros)):
            return True
        if isinstance(node, ast.TypeClass) and node.operand.value in _DANGEROUS_TYPES:
            return True
        if isinstance(node, ast.ExtensionIs):
            values: tuple[str, ...] = (node.operand.value,)
        elif isinstance(node, (ast.ExtensionIn, ast.DoubleExtensionIn, ast.TypeIn)):
            values = _entries(policy, node.operand)
        elif isinstance(node, (ast.NameMatches, ast.NameIn)):
            values = tuple(v.rsplit(".", 1)[-1] for v in _entries(policy, node.operand))
        else:
            continue
        found = {v.lower().lstrip("*.") for v in values}
        if found & (DANGEROUS_EXTENSIONS | set(_DANGEROUS_TYPES)):
            return True
    return False


def _entries(policy: CheckedPolicy, operand: ast.Operand) -> tuple[str, ...]:
    if isinstance(operand, ast.ListRef):
        return policy.lists.get(operand.name, ())
    if isinstance(operand, ast.ListLit):
        return tuple(i.value for i in operand.items)
    return (operand.value,) if isinstance(operand, ast.Str) else ()


_SENDER_TESTS = (ast.SenderIn, ast.SenderMatches)


def unauthenticated(cond: ast.Cond) -> ast.Leaf | None:
    """A test in ``cond`` that trusts a sender without ``sender authenticated`` beside it
    in the same ``and``, or None."""
    stack: list[tuple[ast.Cond, bool]] = [(cond, False)]
    while stack:
        node, covered = stack.pop()
        if isinstance(node, ast.And):
            covered = covered or any(isinstance(i, ast.SenderAuthenticated) for i in node.items)
        if not covered and (
            isinstance(node, _SENDER_TESTS)
            or (isinstance(node, (ast.TextContains, ast.TextMatches)) and node.field == "from")
        ):
            return node
        stack.extend((c, covered) for c in ast.children(node))
    return None


def unauthenticated_trust(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """W209: a rule about executables, disk images or macros excepts a forgeable sender.

    Example::

        block attachment extension in executable unless sender in partners   # W209
        allow sender matches "*@partner.example"                           # W209 below
        block attachment has macros
    """
    allows: list[tuple[int, ast.Leaf]] = []  # earlier enforced allow rules trusting a sender
    for crule in policy.rules:
        r = crule.rule
        if r.action == "allow" and not r.audit:
            found = unauthenticated(r.condition)
            if found is not None and r.unless is None:
                allows.append((crule.line, found))
            continue
        if r.action not in ast.STOPPING_ACTIONS or not _dangerous(r.condition, policy):
            continue
        found = unauthenticated(r.unless) if r.unless is not None else None
        via = "its exception"
        if found is None and allows:
            line, found = allows[0]
            via = f"the allow rule at line {line}"
        if found is not None:
            text = printer.leaf(found)
            fix = (
                f"'{text} authenticated'"
                if isinstance(found, _SENDER_TESTS)
                else "a sender test with 'authenticated', such as 'sender in L authenticated'"
            )
            yield warning(
                "W209",
                f"rule '{crule.id}' stops executables, disk images or macros, but {via} "
                f"trusts '{text}', which anyone can forge: require authentication ({fix})",
                found.span if found.span is not ast.NOSPAN else r.span,
            )


def no_authserv_id(policy: CheckedPolicy) -> Iterator[Diagnostic]:
    """W212: ``authenticated`` with no ``authserv-id``: only SMTP AUTH can satisfy it.

    Example::

        block attachment has macros unless sender authenticated    # W212: name the server
    """
    if policy.ast.authserv_ids:
        return
    for crule in policy.rules:
        for cond in (crule.rule.condition, crule.rule.unless):
            node = (
                next((n for n in ast.walk(cond) if isinstance(n, ast.SenderAuthenticated)), None)
                if cond is not None
                else None
            )
            if node is not None:
                yield warning(
                    "W212",
                    "'authenticated' with no authserv-id named: no Authentication-Results "
                    "field counts, only SMTP AUTH at the MTA (add: authserv-id "
                    '"your-border-mta.example")',
                    node.span,
                )
                return
