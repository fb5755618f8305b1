"""labapp-users: manage the accounts of a case store (lab_app/core/accounts.py).

    labapp-users [--db PATH|URL] add NAME --role technician|reviewer|admin [--full-name TEXT]
    labapp-users [--db PATH|URL] passwd NAME
    labapp-users [--db PATH|URL] role NAME ROLE
    labapp-users [--db PATH|URL] disable NAME | enable NAME
    labapp-users [--db PATH|URL] list | log | verify

The first account must be an administrator; it turns accounts on for every workstation of that
store. From then on a change needs an administrator: ``--as ADMIN`` (default: the OS login name),
whose password is asked first. Passwords are asked with getpass (twice for a new one);
``--password-stdin`` reads them from standard input instead, one a line, in the same order (for
set-up scripts). ``verify`` checks the account log's hash chain and every account against it
(lab_app/core/account_integrity.py; labapp-report --verify checks it too). Exit codes: 0 done
(verify: intact); 1 refused, or verify found a change made outside the program (one-line reason
on stderr); 2 usage error.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from .core.errors import LabAppError

PROG = "labapp-users"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Manage the user accounts of a case store.")
    p.add_argument("--db", default=None, metavar="PATH|URL",
                   help="case database file, or postgresql://user@host:port/dbname (default: the "
                        "lab settings' database, else the user's data folder)")
    p.add_argument("--as", dest="admin", default=None, metavar="ADMIN",
                   help="the administrator making the change (default: the OS login name)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read passwords from standard input, one a line, instead of asking")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("technician", "reviewer", "admin"))
    add.add_argument("--full-name", default="", help="the name printed on reports")
    sub.add_parser("passwd", help="set an account's password").add_argument("name")
    role = sub.add_parser("role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=("technician", "reviewer", "admin"))
    sub.add_parser("disable", help="disable an account").add_argument("name")
    sub.add_parser("enable", help="enable an account again").add_argument("name")
    sub.add_parser("list", help="list the accounts")
    sub.add_parser("log", help="list the account changes and failed sign-ins")
    sub.add_parser("verify", help="check that no account or account log entry was changed "
                                  "outside the program")
    return p


class _Passwords:
    def __init__(self, from_stdin: bool) -> None:
        self.from_stdin = from_stdin

    def ask(self, prompt: str, *, confirm: bool = False) -> str:
        if self.from_stdin:
            line = sys.stdin.readline()
            if not line:
                raise LabAppError("No password on standard input.")
            return line.rstrip("\r\n")
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != first:
            raise LabAppError("The two passwords differ; nothing was changed.")
        return first


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .core.accounts import ADMIN, Accounts, require_role
    from .core.cases import CaseStore, check_db_location
    from .core.settings import database_location
    try:
        check_db_location(args.db)
    except LabAppError as exc:
        _parser().error(str(exc))
    passwords = _Passwords(args.password_stdin)
    try:
        with CaseStore(database_location(args.db)) as store:
            accounts = Accounts(store)
            if args.command == "list":
                for a in accounts.list_users():
                    state = "" if a.active else "  (disabled)"
                    print(f"{a.name:<20} {a.role:<11} {a.full_name}{state}")
                return 0
            if args.command == "log":
                for e in accounts.history():
                    print(f"{e['at']}  {e['actor']}: {e['action']} {e['user_name']} ({e['detail']})")
                return 0
            if args.command == "verify":
                found = accounts.verify()
                if not found.intact:
                    print(f"{PROG}: {found.message()}", file=sys.stderr)
                    return 1
                print(f"{found.message()} ({store.location})")
                return 0
            if accounts.enabled():
                admin_name = args.admin or _login()
                admin = accounts.authenticate(admin_name, passwords.ask(f"Password of {admin_name}: "))
                require_role(admin, ADMIN, to="manage accounts")
                actor = admin.signature
            else:
                if args.command != "add":
                    raise LabAppError("There are no accounts yet; add the first one, an "
                                      "administrator, with: labapp-users add NAME --role admin")
                actor = f"{_login()} (login)"
            if args.command == "add":
                password = passwords.ask(f"New password for {args.name}: ", confirm=True)
                made = accounts.create_user(args.name, password, args.role,
                                            full_name=args.full_name, actor=actor)
                print(f"Account {made.name} ({made.role}) created in {store.location}.")
            elif args.command == "passwd":
                accounts.set_password(args.name, passwords.ask(f"New password for {args.name}: ",
                                                               confirm=True), actor=actor)
                print(f"Password of {args.name} changed.")
            elif args.command == "role":
                accounts.set_role(args.name, args.role, actor=actor)
                print(f"{args.name} is now {args.role}.")
            else:
                accounts.set_active(args.name, args.command == "enable", actor=actor)
                print(f"{args.name} {args.command}d.")
    except LabAppError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was changed.", file=sys.stderr)
        return 1
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
