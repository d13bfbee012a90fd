"""The footer's pages: legal notice, accessibility statement, contact."""
