"""``python -m sandbox.botapi --host 127.0.0.1 --port 8081``: the stand-in on its own."""

from sandbox.botapi.server import main

if __name__ == "__main__":
    main()
