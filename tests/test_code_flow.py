"""The OpenID Connect code flow from a relying party's side (Basic OP behaviours)."""

import time

from .conftest import ISSUER, PASSWORD


def test_happy_path_with_client_secret_basic(ent, parent):
    tokens, claims = ent.full_login("jean.dupont1", PASSWORD)
    assert tokens["token_type"] == "Bearer"
    assert claims["sub"] == parent.sub
    assert claims["iss"] == ISSUER
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["exp"] > claims["iat"]
    assert claims["auth_time"] <= claims["iat"]
    assert claims["name"] == "Jean Dupont"
