"""Login, logout and the pages around them."""
