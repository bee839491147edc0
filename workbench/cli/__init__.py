"""The ``sutazai`` command line. Command modules import heavy parts only when they run."""
