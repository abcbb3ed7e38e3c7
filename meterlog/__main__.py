from meterlog.cli import run

run()
