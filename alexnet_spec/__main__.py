from alexnet_spec.cli import main

main()
