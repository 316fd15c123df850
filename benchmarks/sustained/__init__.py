"""The parts of `bench_sustained`: the input schedule and its feeders (`feed`), what is read
while the pipelines run (`observe`: stage latencies from the topics, RSS from /proc), and the
report (`report`: tables, CSV/JSON, `plot`: the PNG)."""
