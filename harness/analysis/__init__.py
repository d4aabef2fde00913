"""Analysis: pure functions of results, nothing measured or drawn here.

=================  ==============================================================
``stats``          a cell's summary (medians, rates), growth fitted across sizes
``compare``        before/after verdicts: did HEAD make a cell faster or leaner
``changepoints``   steps in a metric's series across commits, and the gate on them
=================  ==============================================================
"""
