"""What a school does: its establishments, the import of its pupils and their legal guardians
(SIECLE exports or a CSV), and the accounts and letters it issues from them."""
