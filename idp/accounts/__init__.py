"""The account life cycle: identifiers, passwords and the rules of who may log in where.

Plain functions that the views, the CLI and the sweep all call; nothing here reads a request.
"""
