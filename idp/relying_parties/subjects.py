"""The `sub` a relying party knows an account by: every door that names an account to a
relying party (ID token, userinfo, introspection, logout token) asks here."""


def subject_for(client, sub):
    """The subject identifier of the account whose public `sub` is `sub`, for `client`."""
    return sub
