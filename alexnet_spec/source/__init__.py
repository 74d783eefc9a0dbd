"""The front end: YAML text with positions, `extends` and overrides, pydantic errors located in the user's file,
and loading (text -> validated spec -> ResolvedNetwork); `dump` writes a spec back as YAML."""
