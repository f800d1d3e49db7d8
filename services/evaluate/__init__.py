"""``vigil evaluate`` and ``vigil calibrate``: measure and tune Vigil on a folder of labelled clips."""
