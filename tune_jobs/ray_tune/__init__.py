"""Every use of Ray Tune on the driver: the callback, fusion, concurrency, growth, spaces as samplers."""
