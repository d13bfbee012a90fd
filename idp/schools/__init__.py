"""What schools own: establishments (and, as the life cycle lands, imports, issuing, letters).

Plain functions that the views and the CLI call; nothing here reads a request.
"""
