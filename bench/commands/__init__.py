"""Every `bench` command line: the top floor. Each module is one command (or a group).."""
