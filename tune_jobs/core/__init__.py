"""What every layer uses: the registry, the strict model base, values, token variable names."""
