"""The benchmark: every variant of a bundle timed side by side in one run, the engine called directly
and Keras (in its own process) as baselines. A tool beside the runtime's core; the core never imports it.

`runner` measures, `inputs` makes the batches, `engine` calls an engine directly, `timing` holds the
clocks and the fresh-process cold start, `keras` the Keras baseline, `report` the tables and plot.
"""
