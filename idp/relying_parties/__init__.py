"""Relying parties (the ENT and the téléservices): finding one by its client_id (lookup.py)
and the rules of their registration (registration.py), which the protocol, the login page,
the `idp client` commands and the académie's pages all call."""
