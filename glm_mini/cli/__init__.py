"""What every command-line tool of the kit shares: one flag vocabulary (``vocabulary``), ``--config FILE``
(``config_file``) and progress bars that know when to stay quiet (``progress``)."""
