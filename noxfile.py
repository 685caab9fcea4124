"""Developer sessions: `nox -s tests lint typecheck bench demo`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite against the embedded simulator."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict and pyright (strict) over the package and the typing examples."""
    session.install("-e", ".[dev]")
    session.run("mypy")
    session.run("pyright", "-p", "pyproject.toml")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark; results land in benchmarks/results/ as JSON and Markdown."""
    session.install("-e", ".[cli]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The README's first command: a batch on the embedded simulator."""
    session.install("-e", ".[cli]")
    session.run("videoagent", "demo", *session.posargs)
