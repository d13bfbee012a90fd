"""Staff accounts (docs/architecture.md, « The back office »): school secretaries and académie
administrators.

Not families: a staff member logs in with an email, a password and a second factor (TOTP,
or one of ten single-use recovery codes), at the back office's own entry. This package holds
their rules; the pages are in `idp.staff`, the command in `idp.staff_accounts.cli`.
"""
