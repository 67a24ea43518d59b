"""`make bench`: run every benchmark and print its figures."""

from __future__ import annotations

from bench import chat_bench, import_bench, scale_to_zero_bench, streaming_bench, synth_bench

BENCHMARKS = [synth_bench, import_bench, streaming_bench, chat_bench, scale_to_zero_bench]


def main() -> None:
    for module in BENCHMARKS:
        for label, value in module.run():
            print(f"{label:<70} {value}")


if __name__ == "__main__":
    main()
