"""What users run on a resolved network: check, diff, draw, summary, show, schema, the spec reference and the
commands that call them. Tools read ResolvedNetwork and reach backends only through the registry."""
