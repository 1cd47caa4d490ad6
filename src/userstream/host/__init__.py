"""What this machine gives every part of the pipeline: the private state folder and its
layout (``state``), locks across processes (``locks``), background processes with pid files
that name them for good (``process``), ports (``net``).

A low layer: the local runtime (``userstream.stack``), the stream's supervisor and driver
(``userstream.streaming``), the producer's metrics file, ``status`` and the dashboard use it;
it imports nothing of theirs.
"""
