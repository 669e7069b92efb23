from energy_predict.cli import main

main()
