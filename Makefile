# The two commands that matter: `make demo` and `make test` (both run setup first).
.PHONY: setup build demo test bench clean

setup:
	bash scripts/setup.sh

build: setup
	swift build -c release --product redact

demo: setup
	bash scripts/demo.sh

test: setup
	swift test

bench: setup
	bash scripts/bench.sh

clean:
	rm -rf .build out
