if __name__ == "__main__":
    import os

    if os.environ.get("KOHYAWIZ_FAKE_SIMULATE") == "1":
        from simulate import main
    else:
        from replay import main

    raise SystemExit(main())
