"""« Gérer son compte »: the person's own page on the provider."""
