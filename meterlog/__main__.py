from meterlog.cli import main

main()
