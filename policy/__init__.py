"""The policy language: grammar front, AST, checker, formatter, IR, evaluator, compiler, export, CLI."""

__version__ = "0.1.0"
