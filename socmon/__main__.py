from socmon.cli import main

main()
