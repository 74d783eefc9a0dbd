"""What the code-generating backends share: executing generated source (source.py) and rendering it (rendering.py:
the one Jinja environment factory and the `Statement` whose comments are aligned into a column)."""
