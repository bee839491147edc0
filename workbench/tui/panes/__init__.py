"""The workbench's panes, one per tab."""
