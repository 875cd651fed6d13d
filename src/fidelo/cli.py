"""The `fidelo` console script: one entry point in front of Django's management commands.

`fidelo serve`, `fidelo demo`, `fidelo migrate`, `fidelo worker`, `fidelo ledger verify`,
`fidelo expire`, `fidelo bench earn`… are management commands of the fidelo apps.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv[1:] if argv is None else argv)
    execute_from_command_line(["fidelo", *args])


if __name__ == "__main__":
    main()
