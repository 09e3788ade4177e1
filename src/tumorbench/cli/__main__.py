from tumorbench.cli import main

main()
