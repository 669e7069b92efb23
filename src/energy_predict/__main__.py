from energy_predict.cli import main

if __name__ == "__main__":  # engines that spawn workers re-import the main module
    main()
