"""The simulator: replay recorded mail through policies, score, diff, verify, report.

``replay`` is the one loop over a corpus; ``score`` and ``summary`` turn its decisions
into the figures of ``simulate`` and ``diff``; ``explain`` and ``verify`` judge messages
with the traced verdict and with an exporter's runner; ``report`` writes the HTML page.
The command line (``simulator.cli``) sits on top and is imported by nothing else.
"""
