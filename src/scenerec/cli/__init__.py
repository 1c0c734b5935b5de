"""The ``scenerec`` command line: one thin typer layer over the library."""
