"""Who did something: a staff user, an API key, a member, the system (jobs) or the CLI."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # "staff" | "api_key" | "member" | "system" | "cli"
    id: int | None = None
    label: str = ""

    def __str__(self) -> str:
        if self.id is None:
            return self.label or self.kind
        return f"{self.kind}:{self.id}" + (f" ({self.label})" if self.label else "")


SYSTEM = Actor(kind="system", label="Fidelo")
CLI = Actor(kind="cli", label="command line")
