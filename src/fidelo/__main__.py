from fidelo.cli import main

main()
