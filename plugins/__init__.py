"""Built-in kinterp techniques, each registered through the ``kinterp`` entry points."""
