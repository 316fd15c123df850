def pytest_addoption(parser):
    parser.addoption(
        "--hosts",
        type=int,
        default=3,
        help="simulated hosts for the host-loss run (tests/e2e/test_hosts.py)",
    )
