"""The policy language: parser, AST, checker, formatter, IR, evaluator, compiler, export, CLI."""

__version__ = "0.1.0"
