"""What the benchmark and export both measure with: interleaved timing (`timing`), the engine called
directly (`direct_engine`), the one recommendation policy (`recommend`) and the plots' point labels
(`plot_labels`). Neither tool imports the other."""
