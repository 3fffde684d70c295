"""The benchmark: every variant of a bundle timed side by side in one run, the engine called directly
and Keras (in its own process) as baselines. A tool beside the runtime's core; the core never imports it.

`runner` measures, `inputs` makes the batches, `keras` the Keras baseline, `report` the tables and plot;
the clocks, the engine called directly and the recommendation policy are `runtime.measure`'s, which
export uses too.
"""
