"""``tune-jobs dashboard``: watch jobs live in a browser (``server``), from the same results the
Python API loads (``views``)."""
