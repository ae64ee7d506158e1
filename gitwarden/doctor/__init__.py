"""`gitwarden doctor`: checks a set-up for the faults new users hit, says how to fix each, and
applies the safe fixes."""
