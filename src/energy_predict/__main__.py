from energy_predict.entry import main

if __name__ == "__main__":  # engines that spawn workers re-import the main module
    main()
