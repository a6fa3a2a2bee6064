"""Integrations with other people's frameworks (web servers, ...): thin adapters over the core, each imported only
by the application that uses it. None imports its framework at module level."""
