if __name__ == "__main__":
    from replay import main

    raise SystemExit(main())
