"""Settings declared once: each is a dataclass field carrying its default, its help text and
its rule, and everything else is derived from that one declaration: the command-line flag
(:meth:`Settings.add_flags`), the value read back from the flags (:meth:`Settings.from_args`),
the check of a value (:meth:`Settings.check`), and the scikit-learn parameters of a group
(``get_params``/``set_params``, so ``set_params(training__lr=0.01)`` reaches inside).

A group is a dataclass deriving from :class:`Settings` whose fields are made by
:func:`setting`:

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo(Settings):
...     epochs: int = setting(10, "passes over the data", kind="int", minimum=1)
...     rate: float = setting(0.1, "the rate", minimum=0, min_inclusive=False)
>>> Demo(epochs=3).check()
Demo(epochs=3, rate=0.1)
>>> Demo(epochs=0).check()
Traceback (most recent call last):
    ...
ValueError: epochs must be a positive integer; got 0

The rules and their messages are those of :mod:`ffnlp.checks`. This module imports nothing
else from ffnlp, so any layer may declare its settings with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ffnlp.checks import check_bool, check_choice, check_int, check_probability, check_real

__all__ = ["Setting", "Settings", "given_settings", "parse_duration", "setting"]

KINDS = ("real", "probability", "int", "bool", "choice", "ints", "reals", "text", "duration")


@dataclass(frozen=True)
class Setting:
    """How one setting is checked and spelled on the command line.

    Attributes:
        help: one line for ``--help`` (the default is shown beside it).
        kind: "real", "probability" (a rate in [0, 1), such as dropout), "int", "bool",
            "choice" (one of ``choices``), "ints" (a sequence of integers, held as a tuple),
            "reals" (a sequence of real numbers, a tuple of floats), "text", or "duration" (seconds > 0, also written "90s", "20m", "1h30m"; held
            as a float of seconds).
        minimum, maximum, min_inclusive, max_inclusive: the bounds of a number (of each
            number of "ints" and "reals").
        choices: the values of a "choice".
        optional: None is allowed too (what it means is said in ``help``).
        flag: the command-line name when it is not the field's (``hidden`` for
            ``hidden_dims``).
    """

    help: str
    kind: str = "real"
    minimum: float | None = None
    maximum: float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True
    choices: tuple[Any, ...] = ()
    optional: bool = False
    flag: str | None = None

    def check(self, name: str, value: Any) -> Any:
        """``value`` checked against the rule (named ``name`` in the message) and returned
        as a plain Python value (a tuple for "ints" and "reals")."""
        if value is None and self.optional:
            return None
        bounds = dict(min_inclusive=self.min_inclusive, max_inclusive=self.max_inclusive)
        if self.kind == "int":
            return check_int(name, value, self.minimum, self.maximum, **bounds)
        if self.kind == "real":
            return check_real(name, value, self.minimum, self.maximum, **bounds)
        if self.kind == "probability":
            return check_probability(name, value)
        if self.kind == "bool":
            return check_bool(name, value)
        if self.kind == "choice":
            return check_choice(name, value, self.choices)
        if self.kind == "duration":
            return parse_duration(name, value)
        if self.kind in ("ints", "reals"):
            what, check = (
                ("integers", check_int) if self.kind == "ints" else ("numbers", check_real)
            )
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise ValueError(f"{name} must be a sequence of {what}; got {value!r}")
            return tuple(
                check(f"{name}[{i}]", v, self.minimum, self.maximum, **bounds)
                for i, v in enumerate(value)
            )
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string; got {value!r}")
        return value

    def flag_name(self, name: str) -> str:
        return "--" + (self.flag or name).replace("_", "-")

    def add_flag(self, group: Any, name: str, default: Any) -> None:
        """The flag of this setting in an argparse parser or group; its value lands in
        ``args.<name>``."""
        kwargs: dict[str, Any] = {"dest": name, "help": self.help}
        if self.kind == "bool":  # --name and --no-name: a recipe's True can be turned off
            group.add_argument(
                self.flag_name(name),
                action=argparse.BooleanOptionalAction,
                default=default,
                **kwargs,
            )
            return
        kwargs["default"] = list(default) if self.kind in ("ints", "reals") else default
        if self.kind != "choice":
            kwargs["metavar"] = (self.flag or name).upper()
        if self.kind == "choice":
            kwargs["choices"] = self.choices
        elif self.kind in ("ints", "reals"):
            kwargs.update(type=int if self.kind == "ints" else float, nargs="*")
        elif self.kind == "duration":
            kwargs["metavar"] = "TIME"
        elif self.kind in ("int", "real", "probability"):
            kwargs["type"] = int if self.kind == "int" else float
        group.add_argument(self.flag_name(name), **kwargs)


_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s?)?")


def parse_duration(name: str, value: Any) -> float:
    """A length of time in seconds: a number, or a text such as "90", "90s", "20m", "1h",
    "1h30m" or "1.5h".

    >>> parse_duration("max_time", "1h30m"), parse_duration("max_time", 45)
    (5400.0, 45.0)
    """
    seconds = None
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if text and match is not None and any(match.groups()):
            h, m, sec = (float(g) if g else 0.0 for g in match.groups())
            seconds = 3600 * h + 60 * m + sec
    else:
        try:  # a number of seconds (check_real refuses True and False)
            seconds = check_real(name, value, minimum=0, min_inclusive=False)
        except ValueError:
            seconds = None
    if seconds is None or seconds <= 0:
        raise ValueError(
            f"{name} must be a length of time > 0, in seconds or as 90s, 20m, 1h, 1h30m; "
            f"got {value!r}"
        )
    return float(seconds)


def setting(default: Any, help: str, **rule: Any) -> Any:
    """A dataclass field declaring one setting: its default, its help and its rule (the
    keyword arguments of :class:`Setting`)."""
    declared = Setting(help, **rule)
    if declared.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {declared.kind!r}")
    if isinstance(default, (list, dict, set)):
        raise ValueError("a setting's default must be immutable (a tuple, not a list)")
    return dataclasses.field(default=default, metadata={"setting": declared})


class Settings:
    """Base of a dataclass whose fields are settings (made by :func:`setting`).

    Fields made otherwise (sizes found from the data, say) are carried but have no flag.
    """

    #: Whether a new instance is checked at once (a config built from data); a group an
    #: estimator holds is checked when it fits, as scikit-learn asks.
    check_on_init: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.check_on_init:
            self._set_checked()

    # -------------------------------------------------------------- declarations
    @classmethod
    def declared(cls) -> dict[str, Setting]:
        """The settings of the group by field name, in declaration order."""
        return {
            f.name: f.metadata["setting"]
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if "setting" in f.metadata
        }

    @classmethod
    def default_of(cls, name: str) -> Any:
        return {f.name: f.default for f in dataclasses.fields(cls)}[name]  # type: ignore[arg-type]

    # -------------------------------------------------------------- checks
    def check(self) -> Settings:
        """A copy with every setting checked (plain values, tuples for sequences);
        raises ``ValueError`` naming the first that breaks its rule."""
        return dataclasses.replace(self, **self._checked_values(""))  # type: ignore[type-var]

    def _checked_values(self, prefix: str) -> dict[str, Any]:
        return {
            name: rule.check(prefix + name, getattr(self, name))
            for name, rule in self.declared().items()
        }

    def _set_checked(self) -> None:
        for name, value in self._checked_values("").items():
            object.__setattr__(self, name, value)

    # -------------------------------------------------------------- scikit-learn
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def set_params(self, **params: Any) -> Settings:
        known = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        for name, value in params.items():
            if name not in known:
                raise ValueError(
                    f"{type(self).__name__} has no setting {name!r}; its settings are "
                    f"{sorted(known)}"
                )
            setattr(self, name, value)
        return self

    # -------------------------------------------------------------- command line
    @classmethod
    def add_flags(
        cls,
        group: Any,
        defaults: Settings | None = None,
        skip: Sequence[str] = (),
        help: dict[str, str] | None = None,
    ) -> None:
        """A flag for each setting of the group but ``skip``, in declaration order.

        Args:
            group: an argparse parser or argument group.
            defaults: an instance whose values are the flags' defaults (a command's own
                defaults); the declared defaults otherwise.
            help: help texts to use instead of the declared ones (a command's wording).
        """
        help = help or {}
        for name, rule in cls.declared().items():
            if name in skip:
                continue
            if name in help:
                rule = dataclasses.replace(rule, help=help[name])
            default = getattr(defaults, name) if defaults is not None else cls.default_of(name)
            rule.add_flag(group, name, default)

    @classmethod
    def from_args(cls, args: argparse.Namespace, skip: Sequence[str] = (), **fixed: Any) -> Any:
        """The group the flags of :meth:`add_flags` give (``fixed`` for the fields that
        have no flag), each setting checked under its flag's name (``--epochs must be ...``)."""
        values: dict[str, Any] = dict(fixed)
        for name, rule in cls.declared().items():
            if name in skip or name in fixed or not hasattr(args, name):
                continue
            values[name] = rule.check(rule.flag_name(name), getattr(args, name))
        return cls(**values)

    @classmethod
    def flag_of(cls, name: str) -> str:
        return cls.declared()[name].flag_name(name)


def given_settings(cls: type, value: Any, name: str, defaults: Any = None) -> Any:
    """``value`` as a ``cls`` group, unchecked: an instance as it is, a dict of some of its
    settings laid over ``defaults`` (a ``cls``; None: the declared defaults), or None for
    ``defaults``; refused naming ``name`` otherwise (an unknown setting, another type)."""
    base = defaults if defaults is not None else cls()
    if value is None:
        return base
    if isinstance(value, dict):
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(
                f"{name} has no setting {unknown[0]!r}; its settings are {sorted(cls.declared())}"
            )
        return dataclasses.replace(base, **value)
    if not isinstance(value, cls):
        raise ValueError(
            f"{name} must be a {cls.__name__} or a dict of its settings; got {value!r}"
        )
    return value
