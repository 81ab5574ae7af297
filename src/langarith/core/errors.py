"""Typed errors. Every message names the file, tensor or language at fault and what to do next."""

from __future__ import annotations


class LangarithError(Exception):
    """Base class: the CLI prints these as one clean message instead of a traceback."""


class ModuleFileError(LangarithError):
    """A module folder or file is missing, unreadable, corrupt, or in an unknown format."""


class IncompatibleModulesError(LangarithError):
    """Modules cannot be combined: shapes, ranks, targets, module types or base models differ."""


class SemanticsError(LangarithError):
    """The requested arithmetic semantics does not apply to these modules."""


class ExpressionError(LangarithError):
    """A compose expression has a syntax error, an unknown name, or a non-linear term."""


class RecipeError(LangarithError):
    """A recipe was given missing modules or an out-of-range parameter (e.g. λ outside [0, 1])."""


class NonFiniteError(LangarithError):
    """A result contains NaN or Inf; nothing is written."""


class OutputExistsError(LangarithError):
    """The output folder exists and overwriting was not requested."""


class OutputWriteError(LangarithError):
    """The output place cannot be written: read-only, no permission, not a folder, or the disk is full."""


class UnknownLanguageError(LangarithError, ValueError):
    """A language code that cannot be resolved; the message suggests close matches."""


class TypologyError(LangarithError):
    """Typological data is missing for a language or feature set."""


class SharedInitWarning(UserWarning):
    """Factor-wise arithmetic on LoRA/LoKr modules that did not start from the same initial factors."""
